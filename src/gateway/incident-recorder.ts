/**
 * Turns refusals into incidents without a database write on the request path: runs
 * are aggregated in memory (one incident per run of the same rule and subject) and
 * written to the record store in one transaction per flush interval. A flood of a
 * million refusals is a handful of rows, and a refusal costs a map lookup.
 *
 * A new incident's code is handed out before the flush saves it, so with a journal the
 * incident is first appended to it (one small write per new incident, none for a run's
 * later refusals): a crash before the flush loses no code a client has received. Each
 * flush rotates the journal as it takes its batch and deletes the old files once the
 * batch is committed.
 *
 * A batch is saved in slices of at most `FLUSH_SLICE` incidents, one transaction each,
 * with a turn of the event loop between them: a flood that starts thousands of incidents
 * at once (one per made-up key's IP, say) delays requests by one slice's write at a
 * time, not by the whole batch's. The crash guarantee is the journal's and does not
 * wait for the flush: its files are released only once every slice is committed.
 */
import type { Clock } from '../core/clock.ts';
import type { RuleId } from '../core/decision.ts';
import { IncidentRuns } from '../core/incident-runs.ts';
import { type MaybePromise, whenReady } from '../core/maybe-async.ts';
import type { Incident, SafeguardRuleId, Subject } from '../core/records.ts';
import { newReference } from '../core/reference.ts';
import type { IncidentJournal } from '../store/incident-journal.ts';
import type { RecordStore } from '../store/types.ts';

/**
 * Incidents saved per transaction of a flush, with a turn of the event loop between two:
 * about a millisecond of SQLite work (3–7 ms per 1,000 measured), a short stall.
 */
export const FLUSH_SLICE = 200;

export interface IncidentRecorder {
  /** Records one refusal or action; returns the reference of its incident. */
  record(
    rule: RuleId | SafeguardRuleId,
    subject: Subject,
    counters: Readonly<Record<string, number | string>>,
    note?: string,
  ): string;
  /** Writes what changed since the last flush. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** What the recorder reports, for the log and metrics (incident-log.ts). */
export interface IncidentRecorderHooks {
  onError: (error: unknown, lost: readonly Incident[]) => void;
  /** A journal write failed: the first of a streak of failures (the flush still saves them). */
  onJournalError?: (error: unknown) => void;
  /** The first refusal of each new incident, for the log (a flood logs one line, not a million). */
  onNew?: (incident: {
    reference: string;
    rule: string;
    subject: Subject;
    counters: Readonly<Record<string, number | string>>;
  }) => void;
  /** Each batch written, for the log (one line per incident and flush, not per request). */
  onFlushed?: (batch: readonly Incident[]) => void;
}

export function createIncidentRecorder(
  options: IncidentRecorderHooks & {
    /** Where incidents are saved (a worker thread's saves go to the main thread). */
    store: Pick<RecordStore, 'getIncident' | 'saveIncidents'>;
    clock: Clock;
    flushMs: number;
    gapMs?: number;
    /** Where new incidents go before their code is handed out; none: only the flush saves them. */
    journal?: IncidentJournal;
    /** Makes reference codes; tests pin them. */
    newReference?: () => string;
  },
): IncidentRecorder {
  const makeReference = options.newReference ?? (() => newReference());

  /**
   * Codes no stored incident has, drawn and looked up ahead of need. Codes carry 40
   * random bits, so among a few hundred thousand incidents two start to share one, and
   * saving the second would overwrite the first. A refusal is answered at once, so its
   * code cannot wait on a store that answers later (Redis): the look-ups are made
   * before, one indexed look-up per new incident (not per refusal), and a store that
   * answers at once fills the pool again at once.
   */
  const checked: string[] = [];
  const CHECKED = 16;
  let filling = false;

  function refill(): void {
    if (filling) return;
    filling = true;
    const done = () => {
      filling = false;
    };
    // Bounded: a generator that keeps repeating taken codes cannot loop forever.
    const step = (left: number): MaybePromise<void> => {
      if (checked.length >= CHECKED || left === 0) return;
      const reference = makeReference();
      return whenReady(options.store.getIncident(reference), (found) => {
        const free =
          found === undefined && !checked.includes(reference) && runs.get(reference) === undefined;
        if (free) checked.push(reference);
        return step(left - 1);
      });
    };
    try {
      // The store is away: the codes are drawn unchecked meanwhile, and the flush reports it.
      whenReady(step(CHECKED * 3), done, done);
    } catch {
      done();
    }
  }

  function uniqueReference(): string {
    const reference = checked.shift();
    refill();
    return reference ?? checked.shift() ?? makeReference();
  }

  const runs = new IncidentRuns({ gapMs: options.gapMs ?? 60_000, newReference: uniqueReference });
  refill();
  const journal = options.journal;
  let pending: Incident[] = [];
  let flushing: Promise<void> | undefined;
  /** Journal files whose incidents are in `pending` or in a batch being saved. */
  let retired: string[] = [];
  let journalFailing = false;

  async function flush(): Promise<void> {
    if (flushing) await flushing;
    const batch = pending.concat(runs.drain());
    // Same tick as the drain: the file closed here holds only incidents of this batch
    // (or earlier ones); those created while the batch is saved go to the next file.
    const file = journal?.rotate();
    if (file !== undefined) retired.push(file);
    pending = [];
    if (batch.length === 0) return;
    flushing = (async () => {
      let saved = 0;
      try {
        while (saved < batch.length) {
          // Requests that arrived meanwhile are served before the next slice is written.
          if (saved > 0) await new Promise<void>((resolve) => setImmediate(resolve));
          const slice = batch.slice(saved, saved + FLUSH_SLICE);
          await options.store.saveIncidents(slice);
          saved += slice.length;
          options.onFlushed?.(slice);
        }
        // Only when nothing is waiting for a retry: a failed batch's incidents are in
        // these files too.
        if (pending.length === 0) {
          for (const f of retired) journal?.release(f);
          retired = [];
        }
      } catch (error) {
        // Keep the unsaved ones for the next flush: nothing recorded is lost while the
        // store is away (the slices saved before the failure are committed).
        const unsaved = batch.slice(saved);
        pending = unsaved.concat(pending);
        if (pending.length > 100_000) {
          // Too many to hold: the oldest leave memory, but their journal files stay on
          // disk for the replay at the next start.
          pending = pending.slice(-100_000);
          retired = [];
        }
        options.onError(error, unsaved);
      }
    })();
    await flushing;
    flushing = undefined;
  }

  const timer = setInterval(() => void flush(), options.flushMs);
  timer.unref();

  return {
    record(rule, subject, counters, note) {
      const reference = runs.record(rule, subject, options.clock.now(), counters, note);
      if (!runs.createdLast) return reference;
      if (journal !== undefined) {
        const incident = runs.get(reference);
        try {
          if (incident !== undefined) journal.append(incident);
          journalFailing = false;
        } catch (error) {
          // The refusal is still answered: the flush saves the incident as before.
          if (!journalFailing) options.onJournalError?.(error);
          journalFailing = true;
        }
      }
      options.onNew?.({ reference, rule, subject, counters });
      return reference;
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
      // Files of a batch that could not be saved stay for the replay at the next start.
      journal?.close();
    },
  };
}
