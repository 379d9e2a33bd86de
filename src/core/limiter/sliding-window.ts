/**
 * Sliding-window counter, the per-IP warn/block limiter. Pure: the caller stores the
 * state (memory store, Redis Lua script with `now` passed in).
 *
 * Windows: fixed windows of P = periodMs aligned to the epoch (start = floor(now / P) × P),
 * so every node and the Lua script agree on where a window begins. The state keeps the
 * count of the current fixed window (`curr`) and of the one before (`prev`). The sliding
 * estimate weighs `prev` by the part of the previous window still inside the last P ms:
 *
 *   estimate = prev × (1 − (now − start) / P) + curr
 *
 * On entering a new window, curr becomes prev (if the state was the window just before)
 * or both become 0 (two windows or more later: the state is gone).
 *
 * - Refused when estimate + cost > block. A refused request is not counted: the state is
 *   returned unchanged, so a client hammering while blocked does not extend its block.
 * - Otherwise curr += cost; `warn` = estimate + cost > warn. `warnFirst` = warn and no
 *   warning was reported yet in this fixed window (then warnedStart = start): a warning
 *   is reported at most once per fixed window.
 * - count = ceil(estimate + cost) when allowed, ceil(estimate) when refused: a whole
 *   number of requests, and `count > threshold` exactly when the estimate is over.
 * - retryAfterMs (refused): the exact time until estimate + cost ≤ block, counting no
 *   further requests. Inside the current window prev's weight falls linearly, so the
 *   answer is start + P − (block − curr − cost) × P / prev; if curr + cost alone is over,
 *   it comes only after the rollover, when curr has become prev and decays in turn:
 *   start + 2P − (block − cost) × P / curr. Rounded up to a whole ms. 0 when cost > block
 *   (waiting will not help).
 * - remaining = max(0, floor(block − estimate)) after the request.
 * - resetMs = the time until the estimate would be 0: the end of the next window when
 *   curr > 0, the end of this window when only prev > 0, else 0. (The full quota is then
 *   back, like GCRA's resetMs.)
 *
 * The arithmetic is done on estimate × P, which is exact for whole-ms times and whole
 * counts, so "exactly at the limit" is never lost to rounding. A `now` earlier than the
 * state's window (clock skew between nodes) is treated as the start of that window.
 *
 * @example
 * const params = { periodMs: 60_000, warn: 100, block: 200 };
 * const first = windowStep(undefined, 0, 1, params);
 * first.result.count; // 1
 * windowStep(first.state, 1_000, 1, params).result.remaining; // 198
 */
import type { WindowParams, WindowResult } from './types.ts';

export interface WindowState {
  /** Start of the fixed window `curr` counts (a multiple of periodMs). */
  readonly start: number;
  readonly prev: number;
  readonly curr: number;
  /** Start of the fixed window whose warning was reported; NEVER_WARNED if none. */
  readonly warnedStart: number;
}

/** `warnedStart` of a state that never warned (window starts are ≥ 0). */
export const NEVER_WARNED = -1;

/** A window state the caller lets `windowUpdate` change in place. */
export type MutableWindowState = { -readonly [K in keyof WindowState]: WindowState[K] };

/** No state (start −∞ is before any window): the same answers as `undefined`. */
export const EMPTY_WINDOW: WindowState = Object.freeze({
  start: Number.NEGATIVE_INFINITY,
  prev: 0,
  curr: 0,
  warnedStart: NEVER_WARNED,
});

export interface WindowStep {
  readonly result: WindowResult;
  /** The new state; the input itself (possibly undefined) when refused. */
  readonly state: WindowState | undefined;
}

/** One request of `cost` against `state` at `now` (ms). Pure. */
export function windowStep(
  state: WindowState | undefined,
  now: number,
  cost: number,
  params: WindowParams,
): WindowStep {
  const next: MutableWindowState = { ...(state ?? EMPTY_WINDOW) };
  const result = windowUpdate(next, now, cost, params);
  return { result, state: result.allowed ? next : state };
}

/**
 * The same step, changing `state` in place when allowed (untouched when refused): no
 * allocation but the result, for the store's hot path.
 */
export function windowUpdate(
  state: MutableWindowState,
  now: number,
  cost: number,
  params: WindowParams,
): WindowResult {
  const p = params.periodMs;
  let start = Math.floor(now / p) * p;
  let prev = 0;
  let curr = 0;
  if (state.start >= start) {
    start = state.start;
    prev = state.prev;
    curr = state.curr;
  } else if (state.start === start - p) {
    prev = state.curr;
  }
  const at = Math.max(now, start);
  // estimate × P, exact in integers.
  const scaled = prev * (start + p - at) + curr * p;
  const after = scaled + cost * p;
  const blockScaled = params.block * p;

  if (after > blockScaled) {
    return {
      allowed: false,
      count: Math.ceil(scaled / p),
      warn: after > params.warn * p,
      warnFirst: false,
      retryAfterMs: retryAfter(start, p, prev, curr, cost, params.block, now),
      remaining: remainingOf(blockScaled - scaled, p),
      resetMs: resetOf(start, p, prev, curr, now),
    };
  }
  const warn = after > params.warn * p;
  const warnFirst = warn && state.warnedStart !== start;
  curr += cost;
  state.start = start;
  state.prev = prev;
  state.curr = curr;
  if (warnFirst) state.warnedStart = start;
  return {
    allowed: true,
    count: Math.ceil(after / p),
    warn,
    warnFirst,
    retryAfterMs: 0,
    remaining: remainingOf(blockScaled - after, p),
    resetMs: resetOf(start, p, prev, curr, now),
  };
}

function remainingOf(scaledLeft: number, p: number): number {
  return scaledLeft > 0 ? Math.floor(scaledLeft / p) : 0;
}

function resetOf(start: number, p: number, prev: number, curr: number, now: number): number {
  if (curr > 0) return start + 2 * p - now;
  if (prev > 0) return start + p - now;
  return 0;
}

/** Earliest wait after which estimate + cost ≤ block, with no further requests counted. */
function retryAfter(
  start: number,
  p: number,
  prev: number,
  curr: number,
  cost: number,
  block: number,
  now: number,
): number {
  if (cost > block) return 0;
  const room = block - curr - cost;
  // Inside this window, only prev's share shrinks. (prev > 0 here: the request was refused.)
  // Otherwise wait for the rollover, after which curr is the decaying share.
  const at =
    room >= 0
      ? start + p - Math.floor((room * p) / prev)
      : start + 2 * p - Math.floor(((block - cost) * p) / curr);
  return Math.max(0, Math.ceil(at - now));
}
