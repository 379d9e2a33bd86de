/**
 * GCRA (generic cell rate algorithm), the per-account "slow before block" limiter.
 * Pure: the state is one number, the theoretical arrival time (`tat`) of the next
 * request, and the caller stores it (memory store, Redis Lua script).
 *
 * With T = emissionMs (ms per unit of cost) and τ = burst × T:
 *
 *   newTat  = max(tat ?? now, now) + cost × T
 *   allowAt = newTat − τ               (when this request conforms)
 *   wait    = allowAt − now
 *
 * - wait ≤ 0: allowed now, delayMs 0.
 * - 0 < wait ≤ maxDelayMs: allowed with delayMs = wait. The slot is reserved (state
 *   advances), so the caller must hold the request that long and then forward it.
 * - wait > maxDelayMs: refused; state unchanged (a refused request costs nothing),
 *   retryAfterMs = wait, the time until the same request conforms without delay.
 *
 * remaining = floor((now − (newTat − τ)) / T), at least 0: units that could still pass
 * now without delay after this request (for a refusal: on the unchanged state).
 * resetMs = max(0, tat − now) on the resulting state: until the full burst is back.
 *
 * A request that costs more than the burst (cost × T > τ) never conforms without
 * delay: even on an idle limiter it must wait (cost − burst) × T, its *unavoidable*
 * delay. Refusing it whenever that exceeds maxDelayMs would refuse it forever, and a
 * client that obeys Retry-After would loop. So the unavoidable delay is always
 * accepted: such a request is allowed when wait ≤ max(maxDelayMs, unavoidable), which
 * for a large request means "once the limiter is idle", and a refusal's retryAfterMs is
 * wait − unavoidable (until the limiter is idle enough). The one exception is
 * maxDelayMs = 0, which means "no delay at all" (the engine passes 0 when an account
 * already has too many slowed requests): then such a request is refused.
 *
 * Waits within EPSILON_MS of a bound count as on it, and `remaining` tolerates the same
 * rounding, so a fractional T (60000 / 7) does not turn "exactly conforming" into a
 * 1e-12 ms delay. A rate of 0 (T infinite) refuses with retryAfterMs 0: waiting will
 * not help. The Redis Lua script (src/store/redis-limit-scripts.ts) implements the same
 * steps (test/golden/gcra.json).
 *
 * @example
 * const params = { emissionMs: 1000, burst: 2, maxDelayMs: 1500, limit: 60, periodMs: 60_000 };
 * let tat: number | undefined;
 * ({ tat } = gcraStep(tat, 0, 1, params)); // allowed, remaining 1
 * ({ tat } = gcraStep(tat, 0, 1, params)); // allowed, remaining 0
 * gcraStep(tat, 0, 1, params).result.delayMs; // 1000: slowed, not refused
 */
import type { GcraParams, GcraResult } from './types.ts';

/** Tolerance for floating-point rounding, in milliseconds. */
export const EPSILON_MS = 1e-6;

/** Caller-owned GCRA state, for callers that keep their own storage (the memory store). */
export interface GcraState {
  /** Theoretical arrival time; undefined when there is no state. */
  tat: number | undefined;
}

export interface GcraStep {
  readonly result: GcraResult;
  /** The new state: advanced when allowed, the input unchanged when refused. */
  readonly tat: number | undefined;
}

/** One request of `cost` units against state `tat` at time `now` (ms). Pure. */
export function gcraStep(
  tat: number | undefined,
  now: number,
  cost: number,
  params: GcraParams,
): GcraStep {
  const state: GcraState = { tat };
  const result = gcraUpdate(state, now, cost, params);
  return { result, tat: state.tat };
}

/**
 * The same step, advancing `state.tat` in place when allowed (untouched when refused):
 * no allocation but the result, for the store's hot path.
 */
export function gcraUpdate(
  state: GcraState,
  now: number,
  cost: number,
  params: GcraParams,
): GcraResult {
  const tat = state.tat;
  const t = params.emissionMs;
  const tau = params.burst * t;
  const base = tat === undefined || tat < now ? now : tat;
  const increment = cost * t;
  const newTat = base + increment;
  const wait = newTat - tau - now;
  const unavoidable = increment > tau ? increment - tau : 0;
  const maxDelay =
    params.maxDelayMs > 0 && unavoidable > params.maxDelayMs ? unavoidable : params.maxDelayMs;

  if (wait <= maxDelay + EPSILON_MS) {
    state.tat = newTat;
    return {
      allowed: true,
      delayMs: wait > EPSILON_MS ? wait : 0,
      retryAfterMs: 0,
      remaining: unitsAvailable(-wait, t),
      resetMs: newTat - now,
    };
  }
  const retry = wait - unavoidable;
  return {
    allowed: false,
    delayMs: 0,
    retryAfterMs: Number.isFinite(retry) ? Math.max(retry, 0) : 0,
    remaining: unitsAvailable(now - (base - tau), t),
    resetMs: tat === undefined || tat < now ? 0 : tat - now,
  };
}

/** floor(slackMs / T) clamped to ≥ 0, tolerant of rounding just below a whole unit. */
function unitsAvailable(slackMs: number, t: number): number {
  if (!(slackMs > -EPSILON_MS) || !(t > 0)) return 0;
  const units = Math.floor((slackMs + EPSILON_MS) / t);
  return Math.max(0, units || 0);
}
