/**
 * Delegated identity (`identity.delegate`): for APIs whose keys live elsewhere, an HTTP
 * endpoint maps a credential sluice does not know to an account. sluice asks
 * `POST <url>` with `{"credential": "<key>"}` and reads:
 *
 *   200 `{"account": "acme", "size": 12, "plan": "standard"}`  the key's account
 *       (`size` default 1, `plan` default the policy's default plan)
 *   404 (or 401, 403)                                        no such key
 *   anything else, no answer within `timeout`, a body that is not the above: a failure
 *
 * Answers are cached by the credential's SHA-256 (the key itself is never kept):
 * accounts for `ttl`, "unknown" for `negativeTtl` (so a repeated made-up key asks once),
 * each cache at most `maxEntries` (the oldest forgotten first), on the injected clock.
 * Concurrent lookups of one credential share one call; at most MAX_PENDING calls are
 * out at once (past that a lookup fails at once, so a flood of made-up keys cannot pile
 * up calls to the endpoint). A failure is kept FAILURE_TTL_MS at most, so an endpoint that
 * is down is not asked once per request, and each request waits `timeout` at most.
 * The endpoint going down and coming back is logged once each; every lookup is counted
 * in `sluice_delegate_lookups_total{result}`.
 *
 * @example
 * const delegate = createDelegatedIdentity({ policy: policy.identity.delegate, clock, logger, lookups });
 * const answer = delegate.cached(hash) ?? (await delegate.lookup(credential, hash));
 * if (answer.kind === 'account') admit(answer.account);
 */
import type { Counter } from 'prom-client';
import type { Clock } from '../core/clock.ts';
import type { DelegatePolicy } from '../core/policy/types.ts';
import type { GatewayLogger } from './logger.ts';

export type DelegateAnswer =
  | {
      readonly kind: 'account';
      readonly account: { readonly id: string; readonly size: number; readonly plan: string };
    }
  | { readonly kind: 'unknown' }
  | { readonly kind: 'failed' };

export interface DelegatedIdentity {
  /** The cached answer for the credential's hash while fresh, else undefined: ask. */
  cached(hash: string): DelegateAnswer | undefined;
  /** Asks the endpoint (one call per credential at a time); never rejects. */
  lookup(credential: string, hash: string): Promise<DelegateAnswer>;
}

/** Calls to the endpoint out at once; past that a lookup fails at once. */
export const MAX_PENDING = 256;
/** A failure is kept at most this long (and at most `negativeTtl`). */
export const FAILURE_TTL_MS = 5_000;
/** The longest answer body read, in bytes (an account is a few dozen). */
const MAX_BODY = 16 * 1024;
const ACCOUNT_ID = /^[\w.:@-]{1,128}$/;

const FAILED: DelegateAnswer = { kind: 'failed' };
const UNKNOWN: DelegateAnswer = { kind: 'unknown' };

/** An answer and when it stops being fresh. */
interface Entry {
  readonly answer: DelegateAnswer;
  readonly until: number;
}

export function createDelegatedIdentity(options: {
  policy: DelegatePolicy;
  clock: Clock;
  logger: GatewayLogger;
  /** `sluice_delegate_lookups_total`, by result: hit, account, unknown, failed, overflow. */
  lookups: Counter<'result'>;
  /** The HTTP client (global fetch by default). */
  fetch?: typeof fetch;
}): DelegatedIdentity {
  const { policy, clock, logger, lookups } = options;
  const doFetch = options.fetch ?? fetch;
  const known = new Map<string, Entry>();
  const unknown = new Map<string, Entry>();
  const pending = new Map<string, Promise<DelegateAnswer>>();
  let down = false;

  function fresh(map: Map<string, Entry>, hash: string): DelegateAnswer | undefined {
    const entry = map.get(hash);
    if (entry === undefined) return undefined;
    if (entry.until > clock.now()) return entry.answer;
    map.delete(hash);
    return undefined;
  }

  function keep(map: Map<string, Entry>, hash: string, answer: DelegateAnswer, ttl: number) {
    map.delete(hash); // re-inserted: the newest is last, the oldest first to go
    if (map.size >= policy.maxEntries) map.delete(map.keys().next().value as string);
    map.set(hash, { answer, until: clock.now() + ttl });
  }

  async function ask(credential: string): Promise<DelegateAnswer> {
    try {
      const response = await doFetch(policy.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ credential }),
        signal: AbortSignal.timeout(policy.timeoutMs),
        redirect: 'error',
      });
      if (response.status === 404 || response.status === 401 || response.status === 403) {
        await response.body?.cancel();
        return UNKNOWN;
      }
      if (response.status !== 200) {
        await response.body?.cancel();
        return failed(`answered ${response.status}`);
      }
      const text = await bodyText(response);
      if (text === undefined) return failed('answered a body too long to be an account');
      return accountOf(text) ?? failed('answered 200 without an account ({"account": "…"})');
    } catch (error) {
      const e = error as Error;
      const cause = (e.cause as Error | undefined)?.message;
      return failed(
        e.name === 'TimeoutError'
          ? `no answer within ${policy.timeoutMs} ms`
          : (cause ?? e.message),
      );
    }
  }

  function failed(why: string): DelegateAnswer {
    if (!down) {
      down = true;
      // Once per outage, not per request: the metric counts each failed lookup.
      logger.warn(
        { event: 'delegate-failure', url: policy.url, error: why, onFailure: policy.onFailure },
        `identity delegate failed: ${why}; requests with keys it should know are ${policy.onFailure === 'refuse' ? 'refused (503)' : 'served as anonymous'} until it answers`,
      );
    }
    return FAILED;
  }

  function settle(hash: string, answer: DelegateAnswer): DelegateAnswer {
    lookups.inc({ result: answer.kind });
    if (answer.kind !== 'failed' && down) {
      down = false;
      logger.info(
        { event: 'delegate-recovered', url: policy.url },
        'identity delegate answers again',
      );
    }
    if (answer.kind === 'account') keep(known, hash, answer, policy.ttlMs);
    else if (answer.kind === 'unknown') keep(unknown, hash, answer, policy.negativeTtlMs);
    else keep(unknown, hash, answer, Math.min(FAILURE_TTL_MS, policy.negativeTtlMs));
    return answer;
  }

  return {
    cached(hash) {
      const answer = fresh(known, hash) ?? fresh(unknown, hash);
      if (answer !== undefined) lookups.inc({ result: 'hit' });
      return answer;
    },
    lookup(credential, hash) {
      const running = pending.get(hash);
      if (running !== undefined) return running;
      if (pending.size >= MAX_PENDING) {
        lookups.inc({ result: 'overflow' });
        return Promise.resolve(FAILED);
      }
      const call = ask(credential)
        .then((answer) => settle(hash, answer))
        .finally(() => pending.delete(hash));
      pending.set(hash, call);
      return call;
    },
  };
}

/**
 * The body as text (UTF-8, like `response.text()`), or undefined once it passes
 * MAX_BODY bytes: the rest is neither read nor waited for, so an endpoint answering
 * without end costs 16 KiB and no more time.
 */
async function bodyText(response: Response): Promise<string | undefined> {
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of response.body ?? []) {
    bytes += chunk.byteLength;
    // Leaving the loop cancels the stream: the connection is dropped.
    if (bytes > MAX_BODY) return undefined;
    chunks.push(chunk);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/** The account of a 200 answer's body, or undefined when it names none. */
function accountOf(text: string): DelegateAnswer | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null) return undefined;
  const { account, size, plan } = body as Record<string, unknown>;
  if (typeof account !== 'string' || !ACCOUNT_ID.test(account)) return undefined;
  if (size !== undefined && (!Number.isSafeInteger(size) || (size as number) < 0)) return undefined;
  if (plan !== undefined && typeof plan !== 'string') return undefined;
  return {
    kind: 'account',
    account: { id: account, size: (size as number | undefined) ?? 1, plan: plan ?? '' },
  };
}
