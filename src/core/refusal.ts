/**
 * A refusal as one value: the rule that refused, the facts its incident records (typed
 * by rule, incident-facts.ts), the status, when to retry, and what the answer's headers
 * carry. Decided by the stages and the pure core, answered by one writer
 * (gateway/stages/answer.ts), so nobody threads nine positional parameters around.
 *
 * @example
 * const r = refusal('ip-concurrency', 429, 1000, { ipHeld: 32, ipConcurrency: 32 });
 * answer.refuse(res, caller, r);
 */
import type { Deny, IpWarning, LimitState, RuleId } from './decision.ts';
import type { FactsOf, RuleFacts } from './incident-facts.ts';

export type Refusal = RuleFacts<RuleId> & {
  /** 429, or 401/403 for key, IP and route refusals. */
  readonly status: 401 | 403 | 429;
  /** When the same request could succeed; 0 when waiting will not help. */
  readonly retryAfterMs: number;
  /** The limits that applied, for the RateLimit headers. */
  readonly limits: readonly LimitState[];
  /** The per-IP warning this request crossed, if any. */
  readonly warning: IpWarning | undefined;
  /** Extra words for the incident (e.g. when the next export is allowed). */
  readonly note: string | undefined;
};

/**
 * Builds a refusal whose facts are the rule's own (a mismatch does not compile).
 *
 * @example
 * refusal('key-missing', 401, 0, {});
 */
export function refusal<R extends RuleId>(
  rule: R,
  status: 401 | 403 | 429,
  retryAfterMs: number,
  counters: FactsOf<R>,
  extra: { limits?: readonly LimitState[]; warning?: IpWarning; note?: string } = {},
): Refusal {
  return {
    rule,
    counters,
    status,
    retryAfterMs,
    limits: extra.limits ?? [],
    warning: extra.warning,
    note: extra.note,
  } as Refusal;
}

/**
 * The engine's denial as a refusal to answer.
 *
 * @example
 * if (d.outcome === 'deny') answer.refuse(res, caller, fromDenial(d));
 */
export function fromDenial(d: Deny): Refusal {
  // The engine builds every denial with `deny<R>`, which types its counters by rule.
  return {
    rule: d.rule,
    counters: d.counters,
    status: d.status,
    retryAfterMs: d.retryAfterMs,
    limits: d.limits,
    warning: d.warning,
    note: undefined,
  } as Refusal;
}
