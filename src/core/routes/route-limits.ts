/**
 * What a route's class adds to admission, as pure functions of the policy and `now`:
 * - `batch` routes: their own rate is multiplied inside off-hours windows, and the
 *   policy may confine them to the windows (outside: refused until the next one opens);
 * - `bulk` routes: N exports per period per account and dataset (a sliding log in the
 *   record store); a refusal says exactly when the next export is allowed.
 */

import type { FactsOf } from '../incident-facts.ts';
import type { OffHoursPolicy, Policy, Rate } from '../policy/types.ts';
import { batchMultiplierAt, describeWindows, offHoursAt } from '../schedule/index.ts';

export type BatchVerdict =
  | { readonly allowed: true; readonly multiplier: number }
  | {
      readonly allowed: false;
      readonly retryAfterMs: number;
      readonly nextStart: number | undefined;
      readonly counters: FactsOf<'batch-window'>;
    };

/** Whether a batch request may run now, and by how much its rate is multiplied. */
export function batchVerdict(
  offHours: OffHoursPolicy,
  routeName: string,
  now: number,
): BatchVerdict {
  if (!offHours.confineBatch)
    return { allowed: true, multiplier: batchMultiplierAt(offHours, now) };
  const state = offHoursAt(offHours, now);
  if (state.inWindow) return { allowed: true, multiplier: offHours.batchMultiplier };
  const nextStart = state.next?.start;
  return {
    allowed: false,
    retryAfterMs: nextStart === undefined ? 0 : nextStart - now,
    nextStart,
    counters: {
      route: routeName,
      windows: `${describeWindows(offHours).join('; ')} (${offHours.timeZone})`,
      nextWindow: nextStart === undefined ? 'none' : new Date(nextStart).toISOString(),
    },
  };
}

/** A rate multiplied (inside a window), same period. */
export function scaleRate(rate: Rate, multiplier: number): Rate {
  return multiplier === 1 ? rate : { limit: rate.limit * multiplier, periodMs: rate.periodMs };
}

/** Counters and note of a refused export, for the incident and its explanation. */
export function bulkRefusal(
  policy: Policy,
  dataset: string,
  now: number,
  retryAfterMs: number,
  used: number,
  /** The policy's incremental-sync filter, suggested in the explanation. */
  incremental?: string,
): { counters: FactsOf<'bulk-export'>; note: string } {
  const next = new Date(now + retryAfterMs).toISOString();
  return {
    counters: {
      dataset,
      allowed: policy.bulk.allow.limit,
      periodMs: policy.bulk.allow.periodMs,
      exports: used,
      nextAllowedAt: next,
      ...(incremental === undefined ? {} : { incremental }),
    },
    note: `next export of ${dataset} allowed ${next}`,
  };
}
