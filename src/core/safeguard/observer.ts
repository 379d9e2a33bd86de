/**
 * The safeguards: count what the gateway observes per subject, and when a subject
 * crosses a rule's threshold, decide one action (block the IP, suspend or revoke the
 * key). Pure: time comes from the injected clock, nothing is done here, and memory is
 * bounded (idle subjects are dropped; past a cap, the least recently seen go first).
 *
 * Crossing a threshold fires one action and resets the subject's count, so a flood
 * yields one action, not one per request. While the subject serves the block or
 * suspension a rule gave it, that rule ignores it.
 *
 * Told no first: a 429 is counted against `ignoring429` only when the request ARRIVED
 * after the subject was first answered 429 (plus a grace for requests already in
 * flight). A burst sent before any answer came back is slowed and refused, never
 * punished: only a client that keeps going after being told no is.
 *
 * Dry run: a dry-run rule decides exactly as if it were real (counts, escalates,
 * ignores the subject for the duration it would serve) and marks the action
 * `dryRun: true`. So the dry run shows the sequence of actions the real rule would
 * take, and switching it to real does not start offenders over at the first step.
 */

import { reason } from '../../words/safeguard.ts';
import type { Clock } from '../clock.ts';
import type { SafeguardObservedFacts } from '../incident-facts.ts';
import { type MaybePromise, whenReady } from '../maybe-async.ts';
import type { SafeguardPolicy, SafeguardRule } from '../policy/types.ts';
import type { Subject } from '../records.ts';
import { BoundedMap } from './bounded-map.ts';
import { DEFAULT_HISTORY_MS, escalate } from './escalation.ts';
import { MemoryTally, type SafeguardTally, type TallyStep } from './tally.ts';
import {
  type Action,
  type ObservationKind,
  RULE_FOR_KIND,
  RULE_IDS,
  type SafeguardRuleName,
} from './types.ts';

export interface SafeguardsOptions {
  readonly policy: SafeguardPolicy;
  readonly clock: Clock;
  /** How long offences are remembered after the last one (default 30 days). */
  readonly historyMs?: number;
  /** Subjects being counted, per rule (default 10,000); the least recently seen are dropped. */
  readonly maxSubjects?: number;
  /** Offenders remembered, per rule (default 10,000); the least recently acted on are dropped. */
  readonly maxOffenders?: number;
  /** Buckets per sliding window (default 30: 2-second steps for a 1-minute window). */
  readonly buckets?: number;
  /** Requests arriving this soon after the first 429 were already in flight (default `TOLD_NO_GRACE_MS`). */
  readonly toldNoGraceMs?: number;
  /**
   * Where counts and offences live: this process (the default, bounded by `maxSubjects`
   * and `maxOffenders`), or Redis, shared by every node (store/redis-tally.ts).
   */
  readonly tally?: SafeguardTally;
}

/**
 * How long after a subject is first answered 429 its requests still count as "already in
 * flight": a client cannot have read the 429 before its next requests left, so those are
 * not ignoring it. One second covers a round trip and a retry loop's reaction.
 */
export const TOLD_NO_GRACE_MS = 1_000;

/** Since when a subject has been answered 429, and when it last was. */
interface ToldNo {
  since: number;
  lastAt: number;
}

/** `Answer` is `Action[]` with counts in this process (answered at once). */
export interface Safeguards<Answer extends MaybePromise<Action[]> = MaybePromise<Action[]>> {
  /**
   * Reports one observation; returns the action it triggers, if any (at most one).
   * `arrivedAt` is when the request arrived (default: now); for `rejected-429` it decides
   * whether the client had been told no before sending it. At once with counts in this
   * process; later (a promise) with counts in Redis.
   */
  observe(kind: ObservationKind, subject: Subject, arrivedAt?: number): Answer;
  /** Swaps the policy (reload). Counts of rules whose window changed, or that were disabled, restart; offences are kept. */
  setPolicy(policy: SafeguardPolicy): void;
  /**
   * Forgets what is being counted and served for a key and/or IP (support reinstated it);
   * with `offences: true` also its offence history, so the next offence is the first again.
   */
  forgive(subject: Subject, options?: { offences?: boolean }): MaybePromise<void>;
  /** End of the longest active, real (not dry-run) IP block these safeguards decided, if any. */
  ipBlockedUntil(ip: string): number | undefined;
  /** Entries held, over all rules (for metrics and memory tests). */
  size(): { subjects: number; offenders: number };
}

/** For `rejected-429`: when each subject was first told no in its current run of 429s (per node). */
interface RuleState {
  readonly toldNo: BoundedMap<ToldNo>;
}

interface Target {
  readonly key: string;
  readonly type: 'key' | 'ip';
  readonly subject: Subject;
  readonly label: string;
}

const RULE_NAMES = Object.keys(RULE_IDS) as SafeguardRuleName[];
const keyOf = (keyId: string) => `k:${keyId}`;
const ipOf = (ip: string) => `i:${ip}`;

/**
 * Whom a rule acts on: a `block-ip` rule on the IP; a `suspend`/`revoke` rule on the key,
 * or on the IP (blocked) when the request had no key. Undefined when neither is known.
 */
function targetOf(rule: SafeguardRule, s: Subject): Target | undefined {
  if (rule.action !== 'block-ip' && s.keyId !== undefined) {
    const subject =
      s.accountId === undefined ? { keyId: s.keyId } : { keyId: s.keyId, accountId: s.accountId };
    return { key: keyOf(s.keyId), type: 'key', subject, label: `key ${s.keyId}` };
  }
  if (s.ip === undefined) return undefined;
  return { key: ipOf(s.ip), type: 'ip', subject: { ip: s.ip }, label: `IP ${s.ip}` };
}

/**
 * Creates the safeguards for a policy.
 *
 * @example
 * const safeguards = createSafeguards({ policy: policy.safeguards, clock: systemClock });
 * for (const action of safeguards.observe('rejected-429', { keyId, accountId, ip })) {
 *   if (!action.dryRun) await suspendOrRevoke(action);
 *   await recordIncident(action);
 * }
 */
export function createSafeguards(
  options: SafeguardsOptions & { readonly tally?: undefined },
): Safeguards<Action[]>;
export function createSafeguards(options: SafeguardsOptions): Safeguards;
export function createSafeguards(options: SafeguardsOptions): Safeguards {
  const { clock } = options;
  const historyMs = options.historyMs ?? DEFAULT_HISTORY_MS;
  const maxSubjects = options.maxSubjects ?? 10_000;
  const maxOffenders = options.maxOffenders ?? 10_000;
  const buckets = options.buckets ?? 30;
  const graceMs = options.toldNoGraceMs ?? TOLD_NO_GRACE_MS;
  let policy = options.policy;

  const tally = options.tally ?? new MemoryTally({ maxSubjects, maxOffenders });
  const state = {} as Record<SafeguardRuleName, RuleState>;
  for (const name of RULE_NAMES) state[name] = { toldNo: new BoundedMap<ToldNo>(maxSubjects) };

  /**
   * Whether a 429 answered now, for a request that arrived at `arrivedAt`, was sent after
   * the subject had been told no. The first 429 of a run starts it; a run ends after a
   * window without 429s, so a later burst is again a burst.
   */
  function ignoredToldNo(name: SafeguardRuleName, key: string, now: number, arrivedAt: number) {
    const told = state[name].toldNo;
    const windowMs = policy[name].windowMs;
    told.sweep((t) => now - t.lastAt >= windowMs);
    const run = told.get(key) ?? { since: now, lastAt: now };
    run.lastAt = now;
    told.set(key, run);
    return arrivedAt >= run.since + graceMs;
  }

  function observe(
    kind: ObservationKind,
    observed: Subject,
    arrivedAt?: number,
  ): MaybePromise<Action[]> {
    const name = RULE_FOR_KIND[kind];
    const rule = policy[name];
    if (!rule.enabled) return [];
    const target = targetOf(rule, observed);
    if (target === undefined) return [];
    const now = clock.now();
    if (kind === 'rejected-429' && !ignoredToldNo(name, target.key, now, arrivedAt ?? now)) {
      return [];
    }
    const step: TallyStep = {
      now,
      windowMs: rule.windowMs,
      buckets,
      threshold: rule.threshold,
      historyMs,
      quietMs: quietTimes(rule, target.type),
      blockIp: target.type === 'ip' && !rule.dryRun,
    };
    return whenReady(tally.add(name, target.key, step), (counted) =>
      counted === undefined || counted.offence === 0
        ? []
        : [act(kind, name, rule, target, observed, now, counted.total, counted.offence)],
    );
  }

  function setPolicy(next: SafeguardPolicy): void {
    for (const name of RULE_NAMES) {
      // Bucket sizes derive from the window: counts from another window cannot carry over.
      if (!next[name].enabled || next[name].windowMs !== policy[name].windowMs) {
        tally.restart(name);
        state[name].toldNo.clear();
      }
    }
    policy = next;
  }

  function forgive(subject: Subject, opts: { offences?: boolean } = {}): MaybePromise<void> {
    const keys: string[] = [];
    if (subject.keyId !== undefined) keys.push(keyOf(subject.keyId));
    if (subject.ip !== undefined) keys.push(ipOf(subject.ip));
    for (const name of RULE_NAMES) for (const key of keys) state[name].toldNo.delete(key);
    return tally.forgive(keys, opts.offences === true, clock.now());
  }

  function ipBlockedUntil(ip: string): number | undefined {
    return tally.ipBlockedUntil(ipOf(ip), clock.now());
  }

  function size(): { subjects: number; offenders: number } {
    const held = tally.size();
    let subjects = held.subjects;
    for (const name of RULE_NAMES) subjects += state[name].toldNo.size;
    return { subjects, offenders: held.offenders };
  }

  return { observe, setPolicy, forgive, ipBlockedUntil, size };
}

/** quietTimes() of each rule (a frozen policy object) and subject type. */
const QUIET_TIMES = new WeakMap<SafeguardRule, { key?: number[]; ip?: number[] }>();

/**
 * How long a subject is ignored after its n-th offence (index n−1): the block or
 * suspension it serves; 0 after a revocation. Escalation is the same past the longest of
 * the durations and `revokeAfter`, so the list stops there.
 */
function quietTimes(rule: SafeguardRule, type: 'key' | 'ip'): readonly number[] {
  // Asked on every observation (a flood of 429s asks it per refusal): made once per rule
  // of a policy and kept with it, so a reload's new rule objects get their own.
  let made = QUIET_TIMES.get(rule);
  if (made === undefined) {
    made = {};
    QUIET_TIMES.set(rule, made);
  }
  let times = made[type];
  if (times === undefined) {
    const steps = Math.max(1, rule.durationsMs.length, rule.revokeAfter ?? 0);
    times = Array.from({ length: steps }, (_, i) => escalate(rule, type, i + 1).durationMs ?? 0);
    made[type] = times;
  }
  return times;
}

/** The action of the `offence`-th crossing of `rule` by `target`. */
function act(
  kind: ObservationKind,
  name: SafeguardRuleName,
  rule: SafeguardRule,
  target: Target,
  observed: Subject,
  now: number,
  total: number,
  offence: number,
): Action {
  const { kind: action, durationMs } = escalate(rule, target.type, offence);
  const until = durationMs === undefined ? undefined : now + durationMs;
  const counters: SafeguardObservedFacts = {
    observations: total,
    threshold: rule.threshold,
    windowMs: rule.windowMs,
    offence,
  };
  if (durationMs !== undefined) counters.durationMs = durationMs;
  return Object.freeze({
    rule: RULE_IDS[name],
    kind: action,
    subject: Object.freeze(target.subject),
    observed: Object.freeze({ ...observed }),
    at: now,
    durationMs,
    until,
    offence,
    dryRun: rule.dryRun,
    reason: reason({
      kind,
      count: total,
      threshold: rule.threshold,
      windowMs: rule.windowMs,
      offence,
      target: target.label,
      action,
      durationMs,
      dryRun: rule.dryRun,
    }),
    counters: Object.freeze(counters),
  });
}
