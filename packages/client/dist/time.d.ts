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
/** Real time: `Date.now()` and `setTimeout`, in steps for waits past 24.8 days. */
export declare const realClock: ClientClock;
