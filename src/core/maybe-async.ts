/**
 * A value now, or later: what a store answers. The memory stores answer at once, so the
 * hot path creates no promise for them; a store across the network answers with one.
 */

export type MaybePromise<T> = T | Promise<T>;
