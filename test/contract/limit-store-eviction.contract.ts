/**
 * What every in-process limit store (memory, shared memory) promises about its memory:
 * synchronous answers, idle state swept by traffic on any kind, a key cap that holds
 * under a flood, second-chance eviction that spares a busy key, and the oldest evicted
 * first. One suite, run by each store's test file.
 *
 * @example
 * runEvictionContract('memory', (maxKeys) => new MemoryLimitStore({ maxKeys }));
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type {
  GcraParams,
  GcraResult,
  WindowParams,
  WindowResult,
} from '../../src/core/limiter/types.ts';

/** A limit store that answers at once (the in-process ones). */
interface SyncLimitStore {
  gcra(
    key: string,
    now: number,
    cost: number,
    params: GcraParams,
  ): GcraResult | Promise<GcraResult>;
  window(
    key: string,
    now: number,
    cost: number,
    params: WindowParams,
  ): WindowResult | Promise<WindowResult>;
  size(): number | Promise<number>;
}

const GCRA = { emissionMs: 1000, burst: 5, maxDelayMs: 0, limit: 60, periodMs: 60_000 };
const WINDOW = { periodMs: 60_000, warn: 100, block: 200 };
const ONE = { emissionMs: 1000, burst: 1, maxDelayMs: 0, limit: 60, periodMs: 60_000 };
const T0 = 1_767_225_600_000;

/**
 * Runs the suite against stores made by `make(maxKeys)`. `oldestFirst: false` for a
 * store whose eviction order is per stripe, not global (the shared store with stripes).
 */
export function runEvictionContract(
  name: string,
  make: (maxKeys: number) => SyncLimitStore,
  options: { oldestFirst?: boolean } = {},
): void {
  const sync = <T>(v: T | Promise<T>): T => {
    assert.ok(!(v instanceof Promise), `${name} answers synchronously`);
    return v as T;
  };

  test(`${name}: answers synchronously (the hot path creates no promise)`, () => {
    const store = make(1_000);
    sync(store.gcra('a', T0, 1, GCRA));
    sync(store.window('a', T0, 1, WINDOW));
    assert.equal(typeof sync(store.size()), 'number');
  });

  test(`${name}: traffic on one kind also sweeps the other kind`, () => {
    const store = make(1_000);
    for (let i = 0; i < 500; i++) store.window(`ip:${i}`, T0, 1, WINDOW);
    for (let i = 0; i < 2000; i++) store.gcra('acct:busy', T0 + 200_000 + i * 1000, 1, GCRA);
    assert.equal(sync(store.size()), 1);
  });

  test(`${name}: a flood of 100k distinct keys with maxKeys 10k never holds more than 10k`, () => {
    const store = make(10_000);
    let most = 0;
    for (let i = 0; i < 100_000; i++) {
      // All within one window: nothing expires, only the cap can hold the line.
      store.window(
        `ip:10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
        T0 + (i % 1000),
        1,
        WINDOW,
      );
      if (i % 1000 === 0) most = Math.max(most, sync(store.size()));
    }
    assert.ok(Math.max(most, sync(store.size())) <= 10_000, `held ${most} keys`);
    assert.equal(sync(store.size()), 10_000);
  });

  test(`${name}: under the cap, a blocked client stays blocked through a flood of one-off keys (second chance)`, () => {
    const store = make(1_000);
    const blocked = { periodMs: 60_000, warn: 1, block: 1 };
    assert.equal(sync(store.window('ip:hammer', T0, 1, blocked)).allowed, true);
    for (let i = 0; i < 10_000; i++) {
      store.window(`ip:flood-${i}`, T0 + 1, 1, blocked);
      if (i % 100 === 0) {
        assert.equal(sync(store.window('ip:hammer', T0 + 1, 1, blocked)).allowed, false);
      }
    }
    assert.ok(sync(store.size()) <= 1_000);
  });

  test(`${name}: the cap evicts the oldest entries first`, {
    skip: options.oldestFirst === false && 'eviction order is per stripe',
  }, () => {
    const store = make(3);
    for (const key of ['a', 'b', 'c', 'd']) store.gcra(key, T0, 1, ONE);
    assert.equal(sync(store.size()), 3);
    // 'a' was evicted: it starts afresh; 'd' is still limited.
    assert.equal(sync(store.gcra('a', T0, 1, ONE)).allowed, true);
    assert.equal(sync(store.gcra('d', T0, 1, ONE)).allowed, false);
  });
}
