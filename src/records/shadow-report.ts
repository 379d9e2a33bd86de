/**
 * The shadow report: per account, what the limits and safeguards would have done had
 * they been enforced — requests that would have been slowed or refused, and the
 * suspensions, revocations and IP blocks that were only recorded — with the rules that
 * would have acted most. Read from the incidents (shadow incidents and dry-run safeguard
 * actions), the same for `sluice report shadow` and `GET /admin/reports/shadow`.
 *
 * An incident is one run of requests (core/incident-runs.ts): one that was still going
 * at `since` counts whole.
 *
 * @example
 * const report = await readShadowReport(store, { since: now - 86_400_000, now });
 * report.accounts[0]; // { account: 'acme', slowed: 120, refused: 4, suspended: 1, … }
 */
import {
  type Counters,
  type ShadowOutcome,
  shadowOutcome,
  wasDryRun,
} from '../core/incident-facts.ts';
import { type MaybePromise, whenReady } from '../core/maybe-async.ts';
import type { Incident } from '../core/records.ts';
import type { RecordStore } from '../store/types.ts';

/** What would have happened to one rule's requests (or the actions it would have taken). */
export interface ShadowRuleCount {
  readonly rule: string;
  /** `delay`, `refuse`, or a safeguard's action (`suspend`, `revoke`, `block-ip`). */
  readonly would: string;
  /** Requests (for delay and refuse) or actions (for a safeguard). */
  readonly count: number;
}

export interface ShadowAccountReport {
  /** The account id; `ip:<address>` for callers without a key. */
  readonly account: string;
  /** Requests that would have been held to conform. */
  readonly slowed: number;
  /** Requests that would have been refused. */
  readonly refused: number;
  /** Safeguard suspensions, revocations and IP blocks that were only recorded. */
  readonly suspended: number;
  readonly revoked: number;
  readonly blocked: number;
  /** The rules that would have acted, most first (at most three). */
  readonly topRules: readonly ShadowRuleCount[];
}

export interface ShadowReport {
  /** ISO 8601: the report covers incidents active from `since` to `until`. */
  readonly since: string;
  readonly until: string;
  /** Accounts most affected first (slowed + refused + actions). */
  readonly accounts: readonly ShadowAccountReport[];
}

const TOP = 3;

/** What one incident says would have happened, or undefined for an enforced one. */
function wouldOf(incident: Incident): { would: string; count: number } | undefined {
  const counters: Counters = incident.counters;
  const outcome: ShadowOutcome | undefined = shadowOutcome(counters);
  if (outcome !== undefined) return { would: outcome, count: incident.count };
  if (!incident.rule.startsWith('safeguard-')) return undefined;
  const dryRun = counters.dryRun;
  if (!wasDryRun(dryRun === 'yes' || dryRun === 'no' ? dryRun : undefined)) return undefined;
  return { would: String(counters.action ?? 'act'), count: 1 };
}

/**
 * Sums what the shadowed incidents say, per account.
 *
 * @example
 * shadowReport(store.listIncidents({ since }), since, now).accounts;
 */
export function shadowReport(
  incidents: readonly Incident[],
  since: number,
  now: number,
): ShadowReport {
  const byAccount = new Map<
    string,
    {
      slowed: number;
      refused: number;
      suspend: number;
      revoke: number;
      block: number;
      rules: Map<string, ShadowRuleCount>;
    }
  >();
  for (const incident of incidents) {
    if (incident.endedAt < since) continue;
    const said = wouldOf(incident);
    if (said === undefined) continue;
    const s = incident.subject;
    const account = s.accountId ?? `ip:${s.ip ?? 'unknown'}`;
    let a = byAccount.get(account);
    if (a === undefined) {
      a = { slowed: 0, refused: 0, suspend: 0, revoke: 0, block: 0, rules: new Map() };
      byAccount.set(account, a);
    }
    if (said.would === 'delay') a.slowed += said.count;
    else if (said.would === 'refuse') a.refused += said.count;
    else if (said.would === 'suspend') a.suspend += said.count;
    else if (said.would === 'revoke') a.revoke += said.count;
    else if (said.would === 'block-ip') a.block += said.count;
    const key = `${incident.rule}\n${said.would}`;
    const before = a.rules.get(key)?.count ?? 0;
    a.rules.set(key, { rule: incident.rule, would: said.would, count: before + said.count });
  }
  const accounts = [...byAccount].map(([account, a]) => ({
    account,
    slowed: a.slowed,
    refused: a.refused,
    suspended: a.suspend,
    revoked: a.revoke,
    blocked: a.block,
    topRules: [...a.rules.values()]
      .sort((x, y) => y.count - x.count || x.rule.localeCompare(y.rule))
      .slice(0, TOP),
  }));
  const weight = (r: ShadowAccountReport) =>
    r.slowed + r.refused + r.suspended + r.revoked + r.blocked;
  accounts.sort((x, y) => weight(y) - weight(x) || x.account.localeCompare(y.account));
  return {
    since: new Date(since).toISOString(),
    until: new Date(now).toISOString(),
    accounts,
  };
}

/** Reads the incidents active since `since` and sums them (shadowReport). */
export function readShadowReport(
  store: Pick<RecordStore, 'listIncidents'>,
  range: { since: number; now: number },
): MaybePromise<ShadowReport> {
  return whenReady(store.listIncidents({ since: range.since }), (incidents) =>
    shadowReport(incidents, range.since, range.now),
  );
}
