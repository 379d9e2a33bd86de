/**
 * Reads a policy file from disk: the one I/O step before the pure parse and compile
 * in src/core/policy. `secretEnv` settings are resolved from the process environment.
 */
import { readFileSync } from 'node:fs';
import { SluiceError } from './core/errors.ts';
import { defaultPolicy } from './core/policy/built-in-policy.ts';
import { parsePolicyText } from './core/policy/parse.ts';
import type { Policy } from './core/policy/types.ts';

const REASONS: Record<string, string> = {
  ENOENT: 'there is no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory, not a file',
};

/**
 * Loads and compiles the policy at `path`, or the built-in default when `path` is
 * undefined. Throws `SLUICE_ERR_POLICY_UNREADABLE` (exit 2) when the file cannot be
 * read, and the parser's errors (every mistake, with lines) when it is wrong.
 *
 * @example
 * const policy = loadPolicy('policy.yaml');
 */
export function loadPolicy(
  path: string | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Policy {
  if (path === undefined) return defaultPolicy();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    const reason = REASONS[code] ?? (error as Error).message;
    throw new SluiceError(
      'SLUICE_ERR_POLICY_UNREADABLE',
      `cannot read the policy file ${path}: ${reason}`,
      { exitCode: 2, cause: error },
    );
  }
  return parsePolicyText(text, path, env);
}
