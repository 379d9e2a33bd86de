/**
 * Account budgets proportional to the account's size, within plan bounds.
 *
 * A plan gives `base`, `perUnit`, `min` and `max` as rates; the account's rate is
 * `clamp(base + perUnit × size, min, max)` requests per `base.periodMs`. Rates written
 * with another period are first converted to base's (`1000/hour` with base per minute
 * becomes 16.67 per minute), so a plan may mix periods. When min > max, max wins: the
 * ceiling is the promise made to the upstream.
 */

import type { Plan, Rate } from '../policy/types.ts';
import type { GcraParams } from './types.ts';

/**
 * The account's rate for its size. Negative, NaN or missing sizes count as 0.
 *
 * @example
 * // base 60/min, +2/min per seat, between 60/min and 600/min
 * accountRate(plan, 10); // { limit: 80, periodMs: 60_000 }
 */
export function accountRate(plan: Plan, size: number): Rate {
  const periodMs = plan.base.periodMs;
  const units = Math.max(0, size || 0); // NaN || 0 is 0
  const perUnit = inPeriod(plan.perUnit, periodMs);
  const raw = inPeriod(plan.base, periodMs) + (perUnit === 0 ? 0 : perUnit * units);
  const low = inPeriod(plan.min, periodMs);
  const high = inPeriod(plan.max, periodMs);
  const limit = Math.min(Math.max(raw, low), high);
  return { limit, periodMs };
}

/**
 * GCRA parameters for a rate: one unit every period / limit ms, the plan's burst, and
 * the delay the caller accepts (the plan's maxDelayMs, or 0 to refuse instead of slowing).
 *
 * @example
 * gcraParamsFor({ limit: 60, periodMs: 60_000 }, plan, plan.maxDelayMs).emissionMs; // 1000
 */
export function gcraParamsFor(rate: Rate, plan: Plan, maxDelayMs: number): GcraParams {
  return {
    emissionMs: rate.periodMs / rate.limit,
    burst: plan.burst,
    maxDelayMs,
    limit: rate.limit,
    periodMs: rate.periodMs,
  };
}

/** `rate.limit` expressed per `periodMs`. */
function inPeriod(rate: Rate, periodMs: number): number {
  return rate.periodMs === periodMs ? rate.limit : (rate.limit * periodMs) / rate.periodMs;
}
