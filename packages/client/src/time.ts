/**
 * Time, injected: the client reads the time and waits only through a `ClientClock`, so
 * tests of the off-hours wait, the 429 pause and the export allowance run on a manual
 * clock and never sleep on the wall clock.
 *
 * @example
 * const clock: ClientClock = { now: () => t, sleep: (ms) => new Promise((r) => later(ms, r)) };
 */
export interface ClientClock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Resolves after `ms` as this clock counts. */
  sleep(ms: number): Promise<void>;
}

/** The longest wait one timer holds (2^31 − 1 ms, 24.8 days); longer ones are slept in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Real time: `Date.now()` and `setTimeout`, in steps for waits past 24.8 days. */
export const realClock: ClientClock = {
  now: () => Date.now(),
  async sleep(ms) {
    let left = Math.max(0, ms);
    do {
      const step = Math.min(left, MAX_TIMER_MS);
      left -= step;
      await new Promise<void>((resolve) => setTimeout(resolve, step));
    } while (left > 0);
  },
};
