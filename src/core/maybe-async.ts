/**
 * A value now, or later: what a store answers. The memory stores answer at once, so the
 * hot path creates no promise for them; a store across the network answers with one.
 */

export type MaybePromise<T> = T | Promise<T>;

/**
 * Whether the store has answered already (a value, not a promise): for a fast path that
 * only exists for answers in hand.
 *
 * @example
 * if (isAnswered(r) && r.allowed) return allowAtOnce(r);
 */
export function isAnswered<T>(value: MaybePromise<T>): value is T {
  return !(value instanceof Promise);
}

/**
 * Goes on with a store's answer: at once when it is a value (no promise is created),
 * when it settles when it is a promise. `failed` handles a rejected promise; without it
 * the rejection is passed on. Every path that reads a store goes through here, so each
 * one is also right for a store that answers later.
 *
 * @example
 * const d = whenReady(store.gcra(key, now, 1, params), (r) => r.allowed);
 * // true / false for the memory store, Promise<boolean> for one that answers later
 */
export function whenReady<T, U>(
  value: MaybePromise<T>,
  next: (value: T) => MaybePromise<U>,
  failed?: (error: unknown) => MaybePromise<U>,
): MaybePromise<U> {
  return value instanceof Promise ? value.then(next, failed) : next(value);
}
