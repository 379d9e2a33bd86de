/**
 * Options every `sluice` command understands the same way: `--config FILE` and
 * `--data DIR`, so `sluice keys …` and `sluice incident …` reach the same database
 * as the running gateway.
 */
import { parseArgs } from 'node:util';
import { SluiceError } from '../core/errors.ts';
import { withServerOverrides } from '../core/policy/override.ts';
import type { Policy } from '../core/policy/types.ts';
import { loadPolicy } from '../policy-file.ts';

export const COMMON_OPTIONS = {
  config: { type: 'string', short: 'c' },
  data: { type: 'string', short: 'd' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

/**
 * `parseArgs` with sluice's common options, turning its exceptions into a usage error
 * that names the argument.
 */
export function parseCli<O extends Options>(args: string[], options: O, allowPositionals = true) {
  try {
    return parseArgs({
      args,
      options: { ...COMMON_OPTIONS, ...options },
      allowPositionals,
      strict: true,
    });
  } catch (error) {
    throw new SluiceError('SLUICE_ERR_CLI_USAGE', (error as Error).message, { exitCode: 2 });
  }
}

/** The policy named by `--config` (or the built-in default), with `--data` applied. */
export function policyFromArgs(values: { config?: unknown; data?: unknown }): Policy {
  const policy = loadPolicy(typeof values.config === 'string' ? values.config : undefined);
  return typeof values.data === 'string'
    ? withServerOverrides(policy, { dataDir: values.data })
    : policy;
}
