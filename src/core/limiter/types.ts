/**
 * The limiter maths' vocabulary: the parameters of a GCRA budget and of a sliding
 * window, and what one step of each answers. The pure functions (gcra.ts,
 * sliding-window.ts) and every limit store speak it.
 */
import type { MaybePromise } from '../maybe-async.ts';

export interface GcraParams {
  /** Milliseconds per unit of cost (period / limit). */
  readonly emissionMs: number;
  /** Units of cost that may pass at once. */
  readonly burst: number;
  /** Longest delay the caller accepts; a request needing more is refused and not recorded. */
  readonly maxDelayMs: number;
  /** Quota and window for the RateLimit headers (limit per period). */
  readonly limit: number;
  readonly periodMs: number;
}

export interface GcraResult {
  /** True when the request is admitted (possibly after `delayMs`). */
  readonly allowed: boolean;
  /** How long to hold an admitted request; 0 when it conforms now. */
  readonly delayMs: number;
  /** For a refused request: how long until it would conform without delay. */
  readonly retryAfterMs: number;
  /** Units that could still pass now without delay. */
  readonly remaining: number;
  /** Milliseconds until the full burst is available again. */
  readonly resetMs: number;
}

export interface WindowParams {
  readonly periodMs: number;
  /** Crossing this is recorded and signalled, never refused. */
  readonly warn: number;
  /** Crossing this refuses. */
  readonly block: number;
}

export interface WindowResult {
  readonly allowed: boolean;
  /** Requests in the sliding window, this one included when allowed. */
  readonly count: number;
  /** This request is over the warning threshold. */
  readonly warn: boolean;
  /** …and it is the first warning of the current fixed window (report it). */
  readonly warnFirst: boolean;
  readonly retryAfterMs: number;
  readonly remaining: number;
  readonly resetMs: number;
}

/** One decision's answers: the IP window's, and the account budget's when the window allowed. */
export interface WindowThenGcraResult {
  readonly window: WindowResult;
  readonly gcra: GcraResult | undefined;
}

/**
 * The account's concurrency slot a decision may take with it (`windowThenGcra`): a
 * store whose slots are elsewhere (Redis leases) takes one in the same round trip when
 * the request is allowed at once; other stores ignore it.
 *
 * @example
 * store.windowThenGcra('ip:192.0.2.1', w, 'acct:acme', 1, g, now, { account: 'acme', limit: 4 });
 */
export interface SlotAsk {
  readonly account: string;
  /** The plan's `concurrency`. */
  readonly limit: number;
}

/**
 * Where limiter state lives (the engine's port): a store applies the pure maths atomically
 * per key. The memory store answers at once, a store across the network with a promise.
 */
export interface LimitStore {
  gcra(key: string, now: number, cost: number, params: GcraParams): MaybePromise<GcraResult>;
  window(key: string, now: number, cost: number, params: WindowParams): MaybePromise<WindowResult>;
  /**
   * Optional fast paths, the same as `gcra(namespace + id, …)` and `window(namespace + id, …)`
   * (same state), without building a key string per request. The memory store has them;
   * others may not.
   */
  gcraIn?(
    namespace: string,
    id: string,
    now: number,
    cost: number,
    params: GcraParams,
  ): MaybePromise<GcraResult>;
  windowIn?(
    namespace: string,
    id: string,
    now: number,
    cost: number,
    params: WindowParams,
  ): MaybePromise<WindowResult>;
  /**
   * Optional hint that `windowIn(windowNamespace, windowId, …)` and then
   * `gcraIn(gcraNamespace, gcraId, …)` come next. Changes no state: the memory store starts
   * loading both entries at once, so that their cache misses overlap.
   */
  prefetch?(windowNamespace: string, windowId: string, gcraNamespace: string, gcraId: string): void;
  /**
   * Optional: one admission decision's two steps at once, the same as
   * `window(windowKey, now, 1, w)` then, only when that allowed, `gcra(gcraKey, now, cost, g)`,
   * done atomically. The Redis store runs both in one script, one round trip, and
   * takes the account's concurrency slot (`slot`) in it too.
   */
  windowThenGcra?(
    windowKey: string,
    w: WindowParams,
    gcraKey: string,
    cost: number,
    g: GcraParams,
    now: number,
    slot?: SlotAsk,
  ): MaybePromise<WindowThenGcraResult>;
  /** Number of keys held (for metrics and eviction tests). */
  size(): MaybePromise<number>;
  close(): MaybePromise<void>;
}
