/**
 * Escalation: the n-th offence of a subject against a rule gets a harsher action.
 *
 * - Blocks and suspensions last `durationsMs[min(n−1, last)]`: with `[1h, 1d, 1w]`,
 *   1 hour, then 1 day, then 1 week and 1 week again.
 * - `revokeAfter: N` turns the N-th offence and every later one into `revoke`
 *   (with 3: suspend, suspend, revoke). It applies to key suspensions only: an IP
 *   cannot be revoked, so IP blocks keep escalating by duration.
 * - A rule whose action is `revoke` revokes at the first offence.
 * - A rule acting on a key falls back to blocking the IP when the request had no key.
 *
 * History: a subject's offence count is forgotten once `historyMs` (default 30 days)
 * has passed since its last offence, so an integration that misbehaves every few weeks
 * keeps escalating, and one that behaves for a month starts again at the first step.
 */
import type { SafeguardAction, SafeguardRule } from '../policy/types.ts';

/** Used when a rule that blocks or suspends lists no durations (the policy check refuses that). */
export const FALLBACK_DURATION_MS = 3_600_000;
export const DEFAULT_HISTORY_MS = 30 * 86_400_000;

/** What the safeguards remember about a subject that has offended against one rule. */
export interface OffenceRecord {
  /** Offences so far, the latest included. */
  count: number;
  lastAt: number;
  /**
   * Until then the rule ignores the subject: it is serving the block or suspension the
   * rule gave it (in dry-run too, so a dry run shows what the real rule would do).
   */
  quietUntil: number;
  /** End of a real (not dry-run) IP block, for `ipBlockedUntil`; 0 when none. Never after `quietUntil`. */
  ipBlockUntil: number;
}

/** True when the record no longer matters: history forgotten and nothing being served. */
export function isForgotten(r: OffenceRecord, now: number, historyMs: number): boolean {
  return now - r.lastAt >= historyMs && now >= r.quietUntil;
}

/**
 * The action for the `offence`-th offence (1-based) against `rule` by a subject that is
 * a key or an IP.
 *
 * @example
 * const rule = { action: 'suspend', durationsMs: [3_600_000, 86_400_000], revokeAfter: 3, … };
 * escalate(rule, 'key', 2); // { kind: 'suspend', durationMs: 86_400_000 }
 * escalate(rule, 'key', 3); // { kind: 'revoke', durationMs: undefined }
 * escalate(rule, 'ip', 3); // { kind: 'block-ip', durationMs: 86_400_000 }
 */
export function escalate(
  rule: SafeguardRule,
  target: 'key' | 'ip',
  offence: number,
): { kind: SafeguardAction; durationMs: number | undefined } {
  const duration = () => {
    const d = rule.durationsMs;
    return d.length === 0 ? FALLBACK_DURATION_MS : d[Math.min(offence, d.length) - 1];
  };
  if (target === 'ip') return { kind: 'block-ip', durationMs: duration() };
  if (rule.action === 'revoke') return { kind: 'revoke', durationMs: undefined };
  if (rule.revokeAfter !== undefined && offence >= rule.revokeAfter) {
    return { kind: 'revoke', durationMs: undefined };
  }
  return { kind: 'suspend', durationMs: duration() };
}
