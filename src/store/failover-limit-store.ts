/**
 * The Redis limit store with insurance: while the link to Redis is up, every step goes
 * to Redis; a step that fails or outlasts `store.timeout` (the link's command timeout)
 * marks the link down and is decided again without Redis, and so is every step after
 * it, without asking Redis, until the link's probe finds Redis answering.
 *
 * Without Redis, `onFailure` decides:
 * - `open`: the local insurance limiter (a MemoryLimitStore, the same maths) decides.
 *   It counts only this node's requests since it took over, so each node allows up to
 *   the whole limit on its own: the total over N nodes can reach N times the limit.
 * - `closed`: the step throws `SLUICE_ERR_LIMITS_UNAVAILABLE`, and the gateway answers
 *   503 `limits-unavailable` (problem+json): no request passes unlimited.
 * The insurance state is kept between faults and never copied to Redis: back on Redis,
 * the shared counts are what Redis held (nothing, after a restart without persistence).
 *
 * @example
 * const store = new FailoverLimitStore({ redis, insurance: new MemoryLimitStore(), onFailure: 'open' });
 * await store.gcra('acct:acme', now, 1, params); // Redis, or the insurance limiter within 50 ms
 */
import { SluiceError } from '../core/errors.ts';
import type {
  GcraParams,
  GcraResult,
  LimitStore,
  SlotAsk,
  WindowParams,
  WindowResult,
  WindowThenGcraResult,
} from '../core/limiter/types.ts';
import type { MaybePromise } from '../core/maybe-async.ts';
import type { MemoryLimitStore } from './memory-limit-store.ts';
import type { RedisLimitStore } from './redis-limit-store.ts';

export interface FailoverOptions {
  readonly redis: RedisLimitStore;
  readonly insurance: MemoryLimitStore;
  readonly onFailure: 'open' | 'closed';
  /** Called for each step decided without Redis (by the insurance limiter, or refused). */
  readonly onFallback?: () => void;
}

export class FailoverLimitStore implements LimitStore {
  readonly #redis: RedisLimitStore;
  readonly #insurance: MemoryLimitStore;
  readonly #closed: boolean;
  readonly #onFallback: () => void;

  constructor(options: FailoverOptions) {
    this.#redis = options.redis;
    this.#insurance = options.insurance;
    this.#closed = options.onFailure === 'closed';
    this.#onFallback = options.onFallback ?? (() => {});
  }

  gcra(key: string, now: number, cost: number, params: GcraParams): MaybePromise<GcraResult> {
    return this.#step(
      () => this.#redis.gcra(key, now, cost, params),
      () => this.#insurance.gcra(key, now, cost, params),
    );
  }

  window(key: string, now: number, cost: number, params: WindowParams): MaybePromise<WindowResult> {
    return this.#step(
      () => this.#redis.window(key, now, cost, params),
      () => this.#insurance.window(key, now, cost, params),
    );
  }

  windowThenGcra(
    windowKey: string,
    w: WindowParams,
    gcraKey: string,
    cost: number,
    g: GcraParams,
    now: number,
    slot?: SlotAsk,
  ): MaybePromise<WindowThenGcraResult> {
    // Decided without Redis, no lease is taken: the request asks for its slot as usual.
    return this.#step(
      () => this.#redis.windowThenGcra(windowKey, w, gcraKey, cost, g, now, slot),
      () => {
        const window = this.#insurance.window(windowKey, now, 1, w);
        const gcra = window.allowed ? this.#insurance.gcra(gcraKey, now, cost, g) : undefined;
        return { window, gcra };
      },
    );
  }

  /** Keys in Redis while it answers, else in the insurance limiter. */
  size(): MaybePromise<number> {
    return this.#redis.link.up ? this.#redis.size() : this.#insurance.size();
  }

  close(): void {
    this.#insurance.close();
    this.#redis.close();
  }

  #step<T>(remote: () => Promise<T>, local: () => T): MaybePromise<T> {
    const link = this.#redis.link;
    if (!link.up) return this.#fallback(local);
    let answer: Promise<T>;
    try {
      answer = remote();
    } catch (error) {
      link.down(error);
      return this.#fallback(local);
    }
    return answer.then(undefined, (error: unknown) => {
      link.down(error);
      return this.#fallback(local);
    });
  }

  #fallback<T>(local: () => T): T {
    this.#onFallback();
    if (this.#closed) {
      throw new SluiceError(
        'SLUICE_ERR_LIMITS_UNAVAILABLE',
        'the shared limit store (Redis) is not answering, and store.onFailure is closed',
      );
    }
    return local();
  }
}
