/**
 * A partner's own usage, as `GET /.well-known/sluice/usage` answers it: its account's
 * rate, remaining budget and reset, the delay a request sent now would get, its rated
 * routes, its recent incidents with their references and explanations, the next bulk
 * export allowed per dataset, and the current and next off-hours window. Pure: the
 * gateway reads the pieces (limit store, record store) and this puts them in words.
 * Only the caller's account is ever in it.
 *
 * @example
 * describeUsage({ policy, now, account, mode: 'enforce', standing, incidents, exports });
 * // { account: 'acme', plan: 'standard', rate: { limit: 84, periodSec: 60, … }, … }
 */
import type { Standing } from '../core/engine.ts';
import { shadowOutcome } from '../core/incident-facts.ts';
import { bulkVerdict } from '../core/limiter/bulk-log.ts';
import type { LimitMode, Policy } from '../core/policy/types.ts';
import type { Incident } from '../core/records.ts';
import { offHoursAt } from '../core/schedule/index.ts';
import { explainIncident } from './explain.ts';

/** How many recent incidents the page lists, and from how far back. */
export const USAGE_INCIDENTS = 10;
export const USAGE_INCIDENTS_SINCE_MS = 7 * 86_400_000;

export interface UsageInput {
  readonly policy: Policy;
  readonly now: number;
  readonly account: { readonly id: string; readonly size: number; readonly plan: string };
  /** The mode of the account's plan (a route may still differ). */
  readonly mode: LimitMode;
  readonly standing: Standing;
  /** The account's incidents, most recently active first. */
  readonly incidents: readonly Incident[];
  /** The account's bulk exports within the allowance's period, oldest first. */
  readonly exports: readonly { readonly dataset: string; readonly at: number }[];
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The usage document of one account. */
export function describeUsage(u: UsageInput) {
  const { policy, now, standing } = u;
  const plan = standing.plan;
  const account = standing.account;
  return {
    account: u.account.id,
    plan: plan.name,
    size: u.account.size,
    at: iso(now),
    mode: u.mode,
    rate: {
      limit: round2(standing.rate.limit),
      periodSec: standing.rate.periodMs / 1000,
      burst: plan.burst,
      remaining: account.remaining,
      resetSec: account.resetSec,
      delayMs: standing.delayMs,
      maxDelayMs: plan.maxDelayMs,
    },
    routes: standing.routes.map((r) => ({
      route: r.policy.replace(/^route-/, ''),
      limit: r.quota,
      periodSec: r.windowSec,
      remaining: r.remaining,
      resetSec: r.resetSec,
    })),
    concurrency: plan.concurrency,
    queue: plan.queue,
    incidents: u.incidents.map((i) => {
      const e = explainIncident(i);
      return {
        reference: i.reference,
        rule: i.rule,
        startedAt: iso(i.startedAt),
        endedAt: iso(i.endedAt),
        requests: i.count,
        shadow: shadowOutcome(i.counters) !== undefined,
        title: e.title,
        what: e.what,
        why: e.why,
        fix: e.fix,
      };
    }),
    bulkExports: bulkExports(policy, now, u.exports),
    offHours: offHours(policy, now),
  };
}

/**
 * Per dataset: the exports used in the period and when the next is allowed (now, when
 * one is). Datasets the policy names are listed even unused; a dataset taken from the
 * path (`:dataset`) only once the account has exported it.
 */
function bulkExports(policy: Policy, now: number, exports: UsageInput['exports']) {
  const { limit, periodMs } = policy.bulk.allow;
  const named = policy.routes
    .filter((r) => r.class === 'bulk' && !r.dataset.startsWith(':'))
    .map((r) => r.dataset);
  const datasets = [...new Set([...named, ...exports.map((e) => e.dataset)])].sort();
  return datasets.map((dataset) => {
    const counted = exports
      .filter((e) => e.dataset === dataset && e.at > now - periodMs)
      .map((e) => e.at);
    const verdict = bulkVerdict(counted, limit, periodMs);
    const next = verdict.allowed ? now : verdict.nextAllowedAt;
    return {
      dataset,
      allowed: limit,
      periodSec: periodMs / 1000,
      used: verdict.used,
      nextAllowedAt: next === undefined ? null : iso(next),
    };
  });
}

function offHours(policy: Policy, now: number) {
  const state = offHoursAt(policy.offHours, now);
  const window = (w: { start: number; end: number } | undefined) =>
    w === undefined ? null : { from: iso(w.start), to: iso(w.end) };
  return {
    timeZone: policy.offHours.timeZone,
    current: window(state.current),
    next: window(state.next),
    batchMultiplier: policy.offHours.batchMultiplier,
    confineBatch: policy.offHours.confineBatch,
  };
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
