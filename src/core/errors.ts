/**
 * Every error sluice reports to a person carries a stable code (`SLUICE_ERR_…`).
 * The catalogue lives here, in one file, and docs/errors.md documents each code
 * (a test keeps the two in step). Denials of requests are not errors: they are
 * `Decision` values (see decision.ts).
 */
export const ERROR_CODES = {
  SLUICE_ERR_POLICY_INVALID: 'the policy file has mistakes',
  SLUICE_ERR_POLICY_UNREADABLE: 'the policy file cannot be read',
  SLUICE_ERR_POLICY_YAML: 'the policy file is not valid YAML',
  SLUICE_ERR_CLI_USAGE: 'a command-line argument is wrong',
  SLUICE_ERR_STORE: 'the state store failed',
  SLUICE_ERR_DATA_DIR: 'the data directory cannot be used',
  SLUICE_ERR_NOT_FOUND: 'the thing asked for does not exist',
  SLUICE_ERR_LISTEN: 'the gateway cannot listen on its address',
  SLUICE_ERR_IMPORT_INVALID: 'a key import file has bad lines; nothing was imported',
  SLUICE_ERR_IMPORT_CONFLICT: 'a key in an import file is already registered to another account',
  SLUICE_ERR_COPY_CONFLICT:
    "a record copied from a node's database conflicts with one the target already has",
  SLUICE_ERR_LIMITS_UNAVAILABLE: 'the shared limit store (Redis) is not answering',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** One located mistake, for example in a policy file. */
export interface Problem {
  /** Path in the document, like `plans.standard.rate`; empty for the whole document. */
  path: string;
  /** 1-based line number where the parser knows it. */
  line?: number;
  /** 1-based column where the parser knows it. */
  column?: number;
  /** Plain words. */
  message: string;
}

/**
 * An error with a stable code and, optionally, a list of located problems.
 *
 * @example
 * throw new SluiceError('SLUICE_ERR_CLI_USAGE', '--listen must be HOST:PORT, got "x"');
 */
export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly problems: readonly Problem[];
  /** Process exit status a CLI should use for this error. */
  readonly exitCode: number;

  constructor(
    code: ErrorCode,
    message: string,
    options: { problems?: Problem[]; exitCode?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SluiceError';
    this.code = code;
    this.problems = Object.freeze([...(options.problems ?? [])]);
    this.exitCode = options.exitCode ?? 1;
  }
}

/**
 * The exit status of every command when what it was asked about does not exist (a key
 * id, an incident code, an IP that is not blocked): one status for scripts to test,
 * apart from 1 (a failure) and 2 (a wrong command line).
 */
export const EXIT_NOT_FOUND = 3;

/**
 * "Not found", the same in every command: `SLUICE_ERR_NOT_FOUND`, exit status 3.
 *
 * @example
 * throw notFound('no incident RL-7KQ4-M9XT');
 */
export function notFound(message: string): SluiceError {
  return new SluiceError('SLUICE_ERR_NOT_FOUND', message, { exitCode: EXIT_NOT_FOUND });
}

export function isSluiceError(e: unknown): e is SluiceError {
  return e instanceof SluiceError;
}
