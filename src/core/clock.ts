/**
 * Time, injected. Limiter, schedule and safeguard logic never read the wall clock
 * themselves, and the gateway never arms a timer of its own for a decision's wait (a
 * request held to conform, a queue timeout): both go through a `Clock`, so tests pin and
 * advance time, and the timers fire as they advance, without sleeping.
 *
 * @example
 * const clock = manualClock(Date.UTC(2026, 0, 1));
 * const cancel = clock.after(500, () => console.log('fired'));
 * clock.advance(1_000); // prints "fired"
 * clock.now(); // 1767225601000
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /**
   * Calls `fn` once, `ms` from now as this clock counts (however long: past Node's
   * 24.8-day timer limit too); returns what cancels it (a no-op once it has fired).
   */
  after(ms: number, fn: () => void): () => void;
}

/** The longest wait one Node timer holds (2^31 − 1 ms, 24.8 days); longer ones fire after 1 ms. */
export const MAX_TIMER_STEP_MS = 2 ** 31 - 1;

/**
 * A real wait of any length: armed in steps that each fit one Node timer, so a request
 * held for an unavoidable long delay (cost above the burst at `1/30d`) is not forwarded
 * at once by an overflowing timer. Unref'd: a pending wait never keeps a process alive
 * (the gateway's listener does that while it serves).
 */
function realAfter(ms: number, fn: () => void): () => void {
  let left = Math.max(0, ms);
  let handle: NodeJS.Timeout;
  const arm = () => {
    const step = Math.min(left, MAX_TIMER_STEP_MS);
    left -= step;
    handle = setTimeout(left > 0 ? arm : fn, step);
    handle.unref();
  };
  arm();
  return () => clearTimeout(handle);
}

/** The real clock; the only place in the code base that reads `Date.now()`. */
export const systemClock: Clock = { now: () => Date.now(), after: realAfter };

/** A clock that moves only when told to; for tests. */
export interface ManualClock extends Clock {
  /** Moves time forward, firing each timer that falls due, in order, at its own time. */
  advance(ms: number): void;
  /** Sets the time; timers due by then fire (in order) when it moves forward. */
  set(ms: number): void;
  /** Timers armed and not yet fired or cancelled. */
  pending(): number;
}

interface ManualTimer {
  readonly due: number;
  readonly seq: number;
  readonly fn: () => void;
}

/** Creates a manual clock starting at `start` (ms since the epoch). */
export function manualClock(start = 0): ManualClock {
  let t = start;
  let seq = 0;
  const timers = new Set<ManualTimer>();

  /** Fires, one at a time, the earliest timer due by `until` (ties in arming order). */
  function runUntil(until: number) {
    for (;;) {
      let next: ManualTimer | undefined;
      for (const timer of timers) {
        if (timer.due > until) continue;
        if (
          next === undefined ||
          timer.due < next.due ||
          (timer.due === next.due && timer.seq < next.seq)
        )
          next = timer;
      }
      if (next === undefined) break;
      timers.delete(next);
      if (next.due > t) t = next.due;
      next.fn();
    }
    t = until;
  }

  return {
    now: () => t,
    after(ms, fn) {
      const timer = { due: t + Math.max(0, ms), seq: seq++, fn };
      timers.add(timer);
      return () => {
        timers.delete(timer);
      };
    },
    advance(ms: number) {
      if (ms < 0) throw new RangeError('a clock does not go backwards');
      runUntil(t + ms);
    },
    set(ms: number) {
      if (ms >= t) runUntil(ms);
      else t = ms;
    },
    pending: () => timers.size,
  };
}
