/**
 * The safeguards' counts and offence history behind one small port, so that the rules
 * (observer.ts) decide the same way whether the counts live in this process (MemoryTally,
 * here) or in Redis, shared by every node (store/redis-tally.ts): there a flood spread
 * over nodes is counted whole, and the crossing is claimed by exactly one observation,
 * on one node, so the action is taken once.
 *
 * One `add` does what must be atomic: ignore a subject serving what a rule gave it, count
 * the observation in the sliding window, and when the count reaches the threshold,
 * restart it and record the offence (its number, and how long the subject is ignored).
 *
 * @example
 * const tally = new MemoryTally({ maxSubjects: 10_000, maxOffenders: 10_000 });
 * tally.add('afterAuthFailure', 'i:192.0.2.1', { now, windowMs: 60_000, buckets: 30, threshold: 20,
 *   historyMs: DEFAULT_HISTORY_MS, quietMs: [3_600_000], blockIp: true }); // { total: 1, offence: 0 }
 */
import type { MaybePromise } from '../maybe-async.ts';
import { BoundedMap } from './bounded-map.ts';
import { isForgotten, type OffenceRecord } from './escalation.ts';
import { addOne, newCount, type SlidingCount } from './sliding-count.ts';
import type { SafeguardRuleName } from './types.ts';

/** One observation of a subject (`k:<key id>` or `i:<ip>`) against a rule, with the rule's numbers. */
export interface TallyStep {
  readonly now: number;
  readonly windowMs: number;
  /** Buckets per window (sliding-count.ts). */
  readonly buckets: number;
  readonly threshold: number;
  /** How long offences are remembered after the last one. */
  readonly historyMs: number;
  /**
   * How long the subject is ignored after its n-th offence, at index n−1; past the end,
   * the last applies (0: not ignored, as after a revocation).
   */
  readonly quietMs: readonly number[];
  /** The offence is a real IP block (reported by `ipBlockedUntil`). */
  readonly blockIp: boolean;
}

export interface TallyResult {
  /** The count in the window, this observation included. */
  readonly total: number;
  /** The offence this observation claimed by reaching the threshold (1, 2, …); 0 when none. */
  readonly offence: number;
}

/** Where the safeguards' counts live. */
export interface SafeguardTally {
  /** Counts one observation; undefined when the subject is being ignored (serving a block or suspension). */
  add(
    rule: SafeguardRuleName,
    subject: string,
    step: TallyStep,
  ): MaybePromise<TallyResult | undefined>;
  /** Forgets the counts of `subjects` under every rule; what they serve ends; with `offences`, their history too. */
  forgive(subjects: readonly string[], offences: boolean, now: number): MaybePromise<void>;
  /** The counts of `rule` restart (its window changed, or it was disabled). */
  restart(rule: SafeguardRuleName): void;
  /** End of the longest real IP block recorded for `subject` (an `i:` subject) still running, if any. */
  ipBlockedUntil(subject: string, now: number): number | undefined;
  /** Entries held in this process. */
  size(): { subjects: number; offenders: number };
}

/** The quiet time after the `offence`-th offence. */
export function quietAfter(step: TallyStep, offence: number): number {
  const q = step.quietMs;
  return q.length === 0 ? 0 : q[Math.min(offence, q.length) - 1];
}

interface RuleTally {
  readonly counts: BoundedMap<SlidingCount>;
  readonly offences: BoundedMap<OffenceRecord>;
}

/**
 * The counts in this process, bounded: idle subjects are dropped, and past a cap the
 * least recently seen go first.
 */
export class MemoryTally implements SafeguardTally {
  readonly #rules = new Map<SafeguardRuleName, RuleTally>();
  readonly #maxSubjects: number;
  readonly #maxOffenders: number;

  constructor(options: { maxSubjects: number; maxOffenders: number }) {
    this.#maxSubjects = options.maxSubjects;
    this.#maxOffenders = options.maxOffenders;
  }

  add(rule: SafeguardRuleName, subject: string, step: TallyStep): TallyResult | undefined {
    const { counts, offences } = this.#rule(rule);
    const { now } = step;
    counts.sweep((c) => now - c.lastAt >= step.windowMs);
    offences.sweep((r) => isForgotten(r, now, step.historyMs));
    const record = offences.get(subject);
    if (record !== undefined && now < record.quietUntil) return undefined;

    const count = counts.get(subject) ?? newCount(step.windowMs, step.buckets);
    const total = addOne(count, now);
    if (total < step.threshold) {
      counts.set(subject, count);
      return { total, offence: 0 };
    }
    counts.delete(subject); // one action per crossing: the count starts again
    const offence =
      record === undefined || isForgotten(record, now, step.historyMs) ? 1 : record.count + 1;
    const quietUntil = now + quietAfter(step, offence);
    offences.set(subject, {
      count: offence,
      lastAt: now,
      quietUntil,
      ipBlockUntil: step.blockIp ? quietUntil : 0,
    });
    return { total, offence };
  }

  forgive(subjects: readonly string[], offences: boolean): void {
    for (const state of this.#rules.values()) {
      for (const subject of subjects) {
        state.counts.delete(subject);
        const record = state.offences.get(subject);
        if (record === undefined) continue;
        if (offences) state.offences.delete(subject);
        else {
          record.quietUntil = record.lastAt;
          record.ipBlockUntil = 0;
        }
      }
    }
  }

  restart(rule: SafeguardRuleName): void {
    this.#rules.get(rule)?.counts.clear();
  }

  ipBlockedUntil(subject: string, now: number): number | undefined {
    let until: number | undefined;
    for (const state of this.#rules.values()) {
      const record = state.offences.get(subject);
      if (record !== undefined && record.ipBlockUntil > now) {
        until = Math.max(until ?? 0, record.ipBlockUntil);
      }
    }
    return until;
  }

  size(): { subjects: number; offenders: number } {
    let subjects = 0;
    let offenders = 0;
    for (const state of this.#rules.values()) {
      subjects += state.counts.size;
      offenders += state.offences.size;
    }
    return { subjects, offenders };
  }

  #rule(rule: SafeguardRuleName): RuleTally {
    let state = this.#rules.get(rule);
    if (state === undefined) {
      state = {
        counts: new BoundedMap<SlidingCount>(this.#maxSubjects),
        offences: new BoundedMap<OffenceRecord>(this.#maxOffenders),
      };
      this.#rules.set(rule, state);
    }
    return state;
  }
}
