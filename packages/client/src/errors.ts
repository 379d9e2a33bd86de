/**
 * The errors the client throws, each with a stable `code` (listed in the package README).
 *
 * @example
 * try { await client.request('/api/companies'); }
 * catch (e) { if (e instanceof SluiceHaltedError) console.error(e.status, e.reference); }
 */

/** An RFC 9457 problem document as sluice (or the API behind it) answers it. */
export interface Problem {
  readonly type?: string;
  readonly title?: string;
  readonly status?: number;
  readonly detail?: string;
  /** The incident reference (`RL-XXXX-XXXX`) support can look up. */
  readonly reference?: string;
  readonly rule?: string;
  readonly retryAfter?: number;
  readonly [field: string]: unknown;
}

/** Every client error: `code` says which, `message` says what to do. */
export class SluiceClientError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SluiceClientError';
    this.code = code;
  }
}

/**
 * The client stopped for good: an answer said "stop and tell a person" (401, 403 or
 * another non-retryable 4xx). Every pending and later request rejects with it.
 *
 * @example
 * new SluiceHaltedError(403, { rule: 'key-revoked', reference: 'RL-7KQ4-M9XT' }, 'GET /api/jobs');
 */
export class SluiceHaltedError extends SluiceClientError {
  readonly status: number;
  /** The problem+json body of the answer that halted the client (empty when it had none). */
  readonly problem: Problem;
  /** Its incident reference, when sluice gave one. */
  readonly reference: string | undefined;
  /** The request that was answered so (`METHOD path`). */
  readonly request: string;
  constructor(status: number, problem: Problem, request: string) {
    const rule = problem.rule === undefined ? '' : ` (${problem.rule})`;
    const ref = problem.reference === undefined ? '' : `, reference ${problem.reference}`;
    super(
      'SLUICE_CLIENT_HALTED',
      `halted: ${request} was answered ${status}${rule}${ref}; no further request is sent. ` +
        (problem.detail ?? 'Check the API key and the request, then start again.'),
    );
    this.name = 'SluiceHaltedError';
    this.status = status;
    this.problem = problem;
    this.reference = problem.reference;
    this.request = request;
  }
}

/**
 * The client refused a request itself, before sending it: a route the policy marks
 * non-public, an export whose allowance is used up, a sync that must wait for a window.
 */
export class SluiceLocalRefusal extends SluiceClientError {
  /** When the request would be allowed (exports), if known. */
  readonly nextAllowedAt: Date | undefined;
  constructor(code: string, message: string, nextAllowedAt?: Date) {
    super(code, message);
    this.name = 'SluiceLocalRefusal';
    this.nextAllowedAt = nextAllowedAt;
  }
}

/** Reads a problem+json body, or `{}` when the body is not one. */
export async function readProblem(response: Response): Promise<Problem> {
  try {
    const text = await response.text();
    const body: unknown = JSON.parse(text);
    return typeof body === 'object' && body !== null && !Array.isArray(body)
      ? (body as Problem)
      : {};
  } catch {
    return {};
  }
}

/**
 * One request was answered with a status the client does not turn into a halt and could
 * not cure by retrying: a 429 about one route's allowance (`bulk-export`, `batch-window`),
 * a 429 after every retry, or (from `json`) any status that is not 2xx.
 */
export class SluiceRefusal extends SluiceClientError {
  readonly status: number;
  readonly problem: Problem;
  readonly reference: string | undefined;
  readonly request: string;
  /** `Retry-After` in milliseconds, when the answer had one. */
  readonly retryAfterMs: number | undefined;
  constructor(status: number, problem: Problem, request: string, retryAfterMs: number | undefined) {
    const rule = problem.rule === undefined ? '' : ` (${problem.rule})`;
    const ref = problem.reference === undefined ? '' : `, reference ${problem.reference}`;
    super(
      status === 429 ? 'SLUICE_CLIENT_REFUSED' : 'SLUICE_CLIENT_STATUS',
      `${request} was answered ${status}${rule}${ref}` +
        (problem.detail === undefined ? '' : `: ${problem.detail}`),
    );
    this.name = 'SluiceRefusal';
    this.status = status;
    this.problem = problem;
    this.reference = problem.reference;
    this.request = request;
    this.retryAfterMs = retryAfterMs;
  }
}
