/**
 * How fast and how wide the client may go, from what the answers say. No I/O: every
 * method takes the time as an argument.
 *
 * - **Pace**: while a policy in the `RateLimit` headers has less left than the next
 *   request costs plus a reserve of 2, requests start one emission interval
 *   (`w / q` seconds per unit of cost) apart, so a long run settles just under the rate
 *   instead of running into it. With plenty left (the burst), they go at once.
 * - **429**: everything waits until `Retry-After`, then goes at half the rate (and one at
 *   a time); each answer that is not slowed gives back a tenth of the rate lost (at
 *   least 2 % of it), so the full rate is back after about 20 answers.
 * - **Slowed** (`Sluice-Delay-Ms`): the width halves; it grows by one again only after
 *   20 answers in a row that were not slowed, never past the configured width.
 *
 * @example
 * const pacer = new Pacer(2);
 * pacer.observe(headers, 0);
 * const wait = pacer.waitMs(Date.now()); // 0 while the burst lasts
 */
import { readLimits } from './rate-limit-headers.js';
/** Answers in a row, not slowed, before the width grows by one. */
const GROW_AFTER = 20;
/**
 * Units of each quota kept in hand: pacing starts while this much is left, so a request
 * that reaches the gateway a little early (network jitter) takes from the reserve instead
 * of being held.
 */
const RESERVE = 2;
/** Slack over the exact interval, so clock skew between us and the gateway never turns into a hold. */
const SLACK = 1.02;
export class Pacer {
    /** The widest the client may go (configured, within the published policy). */
    maxWidth;
    /** The width allowed now. */
    width;
    /** Fraction of the advertised rate used (1 normally; less after a 429). */
    factor = 1;
    /** No request starts before this (a 429's Retry-After). */
    pausedUntil = 0;
    #nextStart = 0;
    #limits = [];
    #calm = 0;
    constructor(maxWidth) {
        this.maxWidth = Math.max(1, Math.floor(maxWidth));
        this.width = 1;
    }
    /** Milliseconds to wait before a request of `cost` may start at `now` (0: go). */
    waitMs(now) {
        return Math.max(0, this.pausedUntil - now, this.#nextStart - now);
    }
    /** Records that a request of `cost` starts at `now`; sets when the next may start. */
    started(cost, now) {
        let spacing = 0;
        for (const l of this.#limits) {
            const interval = ((l.w * 1000) / l.q) * cost;
            const short = l.r === undefined || l.r < cost + RESERVE;
            // Below full rate (after a 429), pace always, not only once the burst is gone.
            if (short || this.factor < 1)
                spacing = Math.max(spacing, interval);
        }
        this.#nextStart = Math.max(this.#nextStart, now) + (spacing * SLACK) / this.factor;
    }
    /** Reads an answer's limits and slowing. */
    observe(headers, status) {
        const limits = readLimits(headers);
        if (limits.length > 0)
            this.#limits = limits;
        const delay = Number(headers.get('sluice-delay-ms') ?? 0);
        if (delay > 0) {
            this.width = Math.max(1, Math.floor(this.width / 2));
            this.#calm = 0;
            return;
        }
        if (status >= 200 && status < 400) {
            // A tenth of the rate still lost, at least 2 % of the rate: about 20 answers from half to whole.
            this.factor = Math.min(1, this.factor + Math.max((1 - this.factor) / 10, 0.02));
            if (++this.#calm >= GROW_AFTER && this.width < this.maxWidth) {
                this.width++;
                this.#calm = 0;
            }
        }
    }
    /** A 429: pause everything for `ms`, then go on at half the rate, one at a time. */
    refused(ms, now) {
        this.pausedUntil = Math.max(this.pausedUntil, now + ms);
        this.factor = Math.max(0.05, this.factor / 2);
        this.width = 1;
        this.#calm = 0;
    }
}
