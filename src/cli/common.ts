/**
 * Options every `sluice` command understands the same way: `--config FILE` and
 * `--data DIR`, so `sluice keys …` and `sluice incident …` reach the same database
 * as the running gateway.
 */

import { resolve } from 'node:path';
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { quote } from '../core/echo.ts';
import { isSluiceError, SluiceError } from '../core/errors.ts';
import type { Env } from '../core/policy/compile-context.ts';
import { didYouMean } from '../core/policy/did-you-mean.ts';
import { withServerOverrides } from '../core/policy/override.ts';
import type { Policy } from '../core/policy/types.ts';
import { loadPolicy } from '../policy-file.ts';
import { openRecordStore } from '../store/open-record-store.ts';
import type { RecordStore } from '../store/types.ts';
import type { CliIo } from './io.ts';

export const COMMON_OPTIONS = {
  config: { type: 'string', short: 'c' },
  data: { type: 'string', short: 'd' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Options = ParseArgsOptionsConfig;

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
    throw new SluiceError(
      'SLUICE_ERR_CLI_USAGE',
      parseErrorText(error as Error, { ...COMMON_OPTIONS, ...options }),
      {
        exitCode: 2,
      },
    );
  }
}

/**
 * Node's parser messages in sluice's words: a mistyped option gets a did-you-mean
 * (`unknown option --acount; did you mean --account?`) or the options there are, a
 * missing value says which option needs one; other messages pass as they are.
 *
 * @example
 * parseErrorText(err, { account: { type: 'string' } }); // 'unknown option --acount; did you mean --account?'
 */
export function parseErrorText(error: Error & { code?: string }, options: Options): string {
  const names = Object.keys(options).map((name) => `--${name}`);
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const typed = /^Unknown option '([^']*)'/.exec(error.message)?.[1];
    if (typed !== undefined) {
      const meant = didYouMean(typed.replace(/^-+/, ''), Object.keys(options));
      return meant === undefined
        ? `unknown option ${typed} (options: ${names.join(', ')})`
        : `unknown option ${typed}; did you mean --${meant}?`;
    }
  }
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const missing = /^Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/.exec(error.message);
    if (missing !== null) return `${missing[1]} needs a value`;
    // The next argument starts with "-": a forgotten value, or a value that starts with "-".
    const ambiguous = /^Option '(?:-\w, )?(--[\w-]+)' argument is ambiguous/.exec(error.message);
    if (ambiguous !== null) {
      return `${ambiguous[1]} needs a value (for one that starts with "-", write ${ambiguous[1]}=-…)`;
    }
  }
  return error.message;
}

/**
 * The policy named by `--config` (or the built-in default), with `--data` applied.
 * `env` resolves `secretEnv` settings (the process's environment by default).
 *
 * @example
 * policyFromArgs({ config: 'policy.yaml', data: '/var/lib/sluice' }).server.dataDir; // '/var/lib/sluice'
 */
export function policyFromArgs(
  values: { config?: unknown; data?: unknown },
  env: Env = process.env,
): Policy {
  const policy = loadPolicy(typeof values.config === 'string' ? values.config : undefined, env);
  return typeof values.data === 'string'
    ? withServerOverrides(policy, { dataDir: values.data })
    : policy;
}

/**
 * The environment a record command compiles the policy with. It reads the data
 * directory and the plans, and never signs a webhook: a `secretEnv` set only where the
 * gateway runs must not stop `sluice keys list`. Every variable reads as set.
 *
 * @example
 * policyFromArgs(values, secretsNotNeeded(io.env)); // no "SLUICE_WEBHOOK_SECRET is not set"
 */
export function secretsNotNeeded(env: Env): Env {
  return new Proxy(
    {},
    {
      get: (_, name) =>
        typeof name === 'string' ? env[name] || 'not-needed-by-record-commands' : undefined,
    },
  );
}

/** A wrong command line: exit status 2 and one plain sentence. */
export function usage(message: string): SluiceError {
  return new SluiceError('SLUICE_ERR_CLI_USAGE', message, { exitCode: 2 });
}

/**
 * `sluice <group> <command> …` (keys, ips): parses the options, answers `--help`, refuses
 * an unknown command (usage, exit 2) and an option the command does not take.
 * Returns the exit status when nothing is left to do.
 */
export function parseSubcommand<O extends Options>(
  group: string,
  args: string[],
  io: CliIo,
  spec: { options: O; help: string; accepts: Readonly<Record<string, readonly string[]>> },
) {
  const { values, positionals } = parseCli(args, spec.options);
  const [command, ...rest] = positionals;
  if ((values as { help?: boolean }).help) {
    io.stdout.write(spec.help);
    return 0;
  }
  if (command === undefined || !Object.hasOwn(spec.accepts, command)) {
    io.stderr.write(
      command === undefined
        ? spec.help
        : `sluice ${group}: unknown command ${quote(command)}\n\n${spec.help}`,
    );
    return 2;
  }
  for (const name of Object.keys(spec.options)) {
    if (
      (values as Record<string, unknown>)[name] !== undefined &&
      name !== 'json' &&
      !spec.accepts[command].includes(name)
    ) {
      throw usage(`--${name} does not apply to "sluice ${group} ${command}"`);
    }
  }
  return { command, rest, values };
}

/**
 * The gateway's record store as `--config` / `--data` name it (the same rules as
 * `sluice serve`: Redis when the policy's store is Redis, else the data directory's
 * database), with the policy for checking plan names. A webhook's `secretEnv`
 * need not be set: these commands never sign one. Only commands that create
 * records pass `create: true`; for the others a missing data directory is a mistyped
 * `--data`, reported instead of answered from a new, empty database.
 *
 * @example
 * const { store } = await openRecordsFromArgs(values, io, { create: false });
 * try { … } finally { store.close(); }
 */
export async function openRecordsFromArgs(
  values: { config?: unknown; data?: unknown },
  io: CliIo,
  options: { create: boolean },
): Promise<{ store: RecordStore; where: string; dataDir: string; policy: Policy }> {
  let policy: Policy;
  try {
    policy = policyFromArgs(values, secretsNotNeeded(io.env));
  } catch (error) {
    if (isSluiceError(error)) throw error;
    throw new SluiceError(
      'SLUICE_ERR_POLICY_UNREADABLE',
      `cannot load the policy to find the data directory: ${(error as Error).message}`,
      { exitCode: 2, cause: error },
    );
  }
  const dir = resolve(io.cwd, policy.server.dataDir);
  const { store, where } = await openRecordStore(policy.store, dir, options);
  return { store, where, dataDir: dir, policy };
}

/**
 * Lays rows out in columns under upper-case headers.
 *
 * @example
 * table(['id', 'status'], [['7KQ4M9XT2B', 'active']]);
 */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headers.map((h) => h.toUpperCase()), ...rows];
  const widths = headers.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  return all
    .map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  '))
    .map((line) => `${line.trimEnd()}\n`)
    .join('');
}

/** What a command that changes records works with: the store, where to write, who acts. */
export interface CommandContext {
  readonly store: RecordStore;
  /** Where the records are, for messages: the database file, or Redis and the prefix. */
  readonly where: string;
  /** The data directory (incident journals are each node's own, even with Redis). */
  readonly dataDir: string;
  readonly io: CliIo;
  readonly json: boolean;
  readonly now: number;
  /** Recorded in the audit trail, e.g. `cli:alice`. */
  readonly actor: `cli:${string}`;
}

/** The options section of the help of every command that opens the database. */
export const RECORD_OPTIONS_HELP = `options:
  --config FILE   policy file; its server.data names the database (default: built-in policy)
  --data DIR      directory of the database, overriding the policy
  --json          machine-readable output
`;
