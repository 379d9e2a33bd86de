/**
 * Incident runs: a flood of refusals becomes one incident, not one row per request.
 *
 * Refusals of the same subject for the same rule belong to one run while they keep
 * coming (each within `gapMs` of the previous one); the run is one incident with one
 * reference code and a count. The gateway calls `record` on every refusal (the hot
 * path: one map lookup) and periodically `drain`s what changed into the record store
 * in one batched write.
 *
 * Pure: time is passed in, the reference generator is injected.
 */

import type { RuleId } from './decision.ts';
import type { Incident, SafeguardRuleId, Subject } from './records.ts';

type Counters = Readonly<Record<string, number | string>>;

/** A run ends when no refusal came for this long (a minute, the IP window). */
export const DEFAULT_GAP_MS = 60_000;

export interface IncidentRunsOptions {
  /** A refusal more than this after the run's last one starts a new incident. */
  readonly gapMs?: number;
  /** Runs held in memory at most; past it the least recently used one is let go. */
  readonly maxOpen?: number;
  /** Makes a new reference code, e.g. `newReference` from reference.ts. */
  readonly newReference: () => string;
}

/** A run in memory: the incident, mutable, plus bookkeeping. */
interface Run {
  readonly key: string;
  readonly reference: string;
  readonly rule: RuleId | SafeguardRuleId;
  readonly subject: Subject;
  readonly startedAt: number;
  readonly counters: Counters;
  endedAt: number;
  count: number;
  note: string | undefined;
  /** Changed since the last drain. */
  dirty: boolean;
}

/**
 * @example
 * const runs = new IncidentRuns({ newReference });
 * const ref = runs.record('ip-block', { ip: '203.0.113.9' }, now, { ipRequests: 201, ipBlock: 200 });
 * runs.record('ip-block', { ip: '203.0.113.9' }, now + 10, { ipRequests: 202, ipBlock: 200 }); // same ref
 * await store.saveIncidents(runs.drain()); // one row, count 2
 */
export class IncidentRuns {
  readonly #gapMs: number;
  readonly #maxOpen: number;
  readonly #newReference: () => string;
  /** Runs by rule and subject, least recently used first (Map keeps insertion order). */
  readonly #open = new Map<string, Run>();
  readonly #byReference = new Map<string, Run>();
  /** Runs pushed out of `#open` before their last change was drained. */
  #leaving: Run[] = [];
  /** The most recently used run, which is already last in `#open`. */
  #latest: Run | undefined;
  #lastNow = Number.NEGATIVE_INFINITY;
  #createdLast = false;

  constructor(options: IncidentRunsOptions) {
    this.#gapMs = options.gapMs ?? DEFAULT_GAP_MS;
    this.#maxOpen = Math.max(1, options.maxOpen ?? 10_000);
    this.#newReference = options.newReference;
  }

  /** Counts one refusal or action; returns the reference of the incident it belongs to. */
  record(
    rule: RuleId | SafeguardRuleId,
    subject: Subject,
    now: number,
    counters: Counters,
    note?: string,
  ): string {
    if (now > this.#lastNow) this.#lastNow = now;
    // A shadow run (what a limit would have done) never joins a run of refusals, nor a
    // would-be delay a would-be refusal: the shadow report counts them apart.
    const would = counters.would ?? '';
    const key = `${rule}\n${subject.accountId ?? ''}\n${subject.keyId ?? ''}\n${subject.ip ?? ''}\n${would}`;
    const run = this.#open.get(key);
    if (run !== undefined && now - run.endedAt <= this.#gapMs) {
      run.count++;
      if (now > run.endedAt) run.endedAt = now;
      if (note !== undefined) run.note = note;
      run.dirty = true;
      this.#createdLast = false;
      // Move to the back of the LRU order, unless it is there already: in a flood of one
      // subject that skips a Map delete and insert on every refusal.
      if (run !== this.#latest) {
        this.#open.delete(key);
        this.#open.set(key, run);
        this.#latest = run;
      }
      return run.reference;
    }
    if (run !== undefined) this.#letGo(run);
    this.#createdLast = true;
    const fresh: Run = {
      key,
      reference: this.#newReference(),
      rule,
      subject: Object.freeze({ ...subject }),
      startedAt: now,
      counters: Object.freeze({ ...counters }),
      endedAt: now,
      count: 1,
      note,
      dirty: true,
    };
    this.#open.set(key, fresh);
    this.#byReference.set(fresh.reference, fresh);
    this.#latest = fresh;
    if (this.#open.size > this.#maxOpen) this.#evict();
    return fresh.reference;
  }

  /**
   * The incidents that are new or changed since the last drain, to be saved in one
   * batch. Runs idle for more than `gapMs` at `now` (default: the latest time seen by
   * `record`) are closed: after this drain they are forgotten.
   */
  drain(now: number = this.#lastNow): Incident[] {
    const out: Incident[] = [];
    for (const run of this.#leaving) {
      out.push(snapshot(run));
      this.#byReference.delete(run.reference);
    }
    this.#leaving = [];
    for (const run of this.#open.values()) {
      if (run.dirty) {
        out.push(snapshot(run));
        run.dirty = false;
      }
      if (now - run.endedAt > this.#gapMs) this.#forget(run);
    }
    return out;
  }

  /** The incident of a run still in memory (drained or not), by its reference. */
  get(reference: string): Incident | undefined {
    const run = this.#byReference.get(reference);
    return run === undefined ? undefined : snapshot(run);
  }

  /** Whether the last `record` call opened a new incident (its first request). */
  get createdLast(): boolean {
    return this.#createdLast;
  }

  /** Runs held in memory (open runs, plus those waiting for their last drain). */
  get size(): number {
    return this.#open.size + this.#leaving.length;
  }

  /**
   * Lets the least recently used tenth of the runs go, at once. One at a time would be
   * slow: a Map keeps deleted entries as holes until it rehashes, and finding the first
   * live entry walks past every hole at its front on each call.
   */
  #evict(): void {
    let excess = Math.max(1, Math.floor(this.#maxOpen / 10));
    for (const run of this.#open.values()) {
      if (excess-- <= 0) break;
      this.#letGo(run);
    }
  }

  /** Takes a run out of the open set, keeping it until drained if it has unsaved changes. */
  #letGo(run: Run): void {
    if (run.dirty) {
      this.#open.delete(run.key);
      this.#leaving.push(run);
      if (this.#latest === run) this.#latest = undefined;
    } else {
      this.#forget(run);
    }
  }

  #forget(run: Run): void {
    this.#open.delete(run.key);
    this.#byReference.delete(run.reference);
    if (this.#latest === run) this.#latest = undefined;
  }
}

function snapshot(run: Run): Incident {
  return {
    reference: run.reference,
    rule: run.rule,
    subject: run.subject,
    startedAt: run.startedAt,
    endedAt: run.endedAt,
    count: run.count,
    counters: run.counters,
    note: run.note,
  };
}
