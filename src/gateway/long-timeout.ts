/**
 * A timeout that may be longer than Node's timers hold. `setTimeout` keeps at most
 * 2^31 − 1 ms (24.8 days) and fires a longer one after 1 ms; a request held for an
 * unavoidable delay (cost above the burst at a slow rate, `1/30d`) can need more, so
 * the wait is armed in steps that each fit.
 */

/** The longest wait one Node timer holds. */
export const MAX_TIMER_STEP_MS = 2 ** 31 - 1;

export interface LongTimeout {
  /** Cancels the wait; `fn` is not called. */
  clear(): void;
}

/**
 * Calls `fn` after `ms`, however long.
 *
 * @example
 * const wait = setLongTimeout(() => forward(), 30 * 86_400_000);
 * wait.clear(); // the client left
 */
export function setLongTimeout(fn: () => void, ms: number): LongTimeout {
  let left = Math.max(0, ms);
  let handle: NodeJS.Timeout;
  const arm = () => {
    const step = Math.min(left, MAX_TIMER_STEP_MS);
    left -= step;
    handle = setTimeout(left > 0 ? arm : fn, step);
  };
  arm();
  return { clear: () => clearTimeout(handle) };
}
