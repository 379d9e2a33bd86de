/**
 * Time, injected. Limiter, schedule and safeguard logic never read the wall clock
 * themselves: they take a `Clock`, so tests can pin and advance time without sleeping.
 *
 * @example
 * const clock = manualClock(Date.UTC(2026, 0, 1));
 * clock.advance(1_000);
 * clock.now(); // 1767225601000
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** The real clock; the only place in the code base that reads `Date.now()`. */
export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to; for tests. */
export interface ManualClock extends Clock {
  advance(ms: number): void;
  set(ms: number): void;
}

/** Creates a manual clock starting at `start` (ms since the epoch). */
export function manualClock(start = 0): ManualClock {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      if (ms < 0) throw new RangeError('a clock does not go backwards');
      t += ms;
    },
    set(ms: number) {
      t = ms;
    },
  };
}
