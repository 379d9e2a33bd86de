/**
 * Reads the IETF RateLimit header fields sluice sends (draft-ietf-httpapi-ratelimit-headers,
 * structured-field lists, one member per policy):
 *
 *   RateLimit-Policy: "ip";q=200;w=60, "account";q=80;w=60
 *   RateLimit: "ip";r=187;t=1, "account";r=19;t=10
 */
/** One policy's quota and what is left of it, as one answer said. */
export interface LimitReading {
    readonly policy: string;
    /** Quota per window. */
    readonly q: number;
    /** Window, seconds. */
    readonly w: number;
    /** Remaining now (undefined when the answer had no `RateLimit` member for it). */
    readonly r: number | undefined;
    /** Seconds until the whole quota is back. */
    readonly t: number | undefined;
}
/**
 * The policies an answer's headers describe, with a quota and a window each.
 *
 * @example
 * readLimits(new Headers({ 'ratelimit-policy': '"account";q=80;w=60', ratelimit: '"account";r=19;t=10' }));
 * // [{ policy: 'account', q: 80, w: 60, r: 19, t: 10 }]
 */
export declare function readLimits(headers: Headers): LimitReading[];
/**
 * `Retry-After` in milliseconds (delta-seconds or an HTTP date), or undefined.
 *
 * @example
 * retryAfterMs(new Headers({ 'retry-after': '17' }), 0); // 17000
 */
export declare function retryAfterMs(headers: Headers, now: number): number | undefined;
