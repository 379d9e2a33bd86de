export declare class Pacer {
    #private;
    /** The widest the client may go (configured, within the published policy). */
    maxWidth: number;
    /** The width allowed now. */
    width: number;
    /** Fraction of the advertised rate used (1 normally; less after a 429). */
    factor: number;
    /** No request starts before this (a 429's Retry-After). */
    pausedUntil: number;
    constructor(maxWidth: number);
    /** Milliseconds to wait before a request of `cost` may start at `now` (0: go). */
    waitMs(now: number): number;
    /** Records that a request of `cost` starts at `now`; sets when the next may start. */
    started(cost: number, now: number): void;
    /** Reads an answer's limits and slowing. */
    observe(headers: Headers, status: number): void;
    /** A 429: pause everything for `ms`, then go on at half the rate, one at a time. */
    refused(ms: number, now: number): void;
}
