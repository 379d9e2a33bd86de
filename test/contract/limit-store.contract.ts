/**
 * The one test suite every LimitStore passes (memory now, Redis later): the golden
 * limiter vectors (test/golden/*.json) run against the store, each on fresh keys, plus
 * key independence and `size()`. Eviction timing is store-specific and tested beside
 * each store.
 *
 * @example
 * // test/contract/memory-limit-store.test.ts
 * runLimitStoreContract('memory', () => new MemoryLimitStore());
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type {
  GcraParams,
  GcraResult,
  LimitStore,
  WindowParams,
  WindowResult,
} from '../../src/core/limiter/types.ts';
import type { MaybePromise } from '../../src/core/maybe-async.ts';

export interface GoldenStep<P, R> {
  readonly now: number;
  readonly cost: number;
  readonly params?: P;
  readonly expect: Partial<R>;
}

export interface GoldenVector<P, R> {
  readonly description: string;
  readonly params: P;
  readonly steps: readonly GoldenStep<P, R>[];
}

function loadVectors<P, R>(file: string): readonly GoldenVector<P, R>[] {
  const text = readFileSync(new URL(`../golden/${file}`, import.meta.url), 'utf8');
  return (JSON.parse(text) as { vectors: GoldenVector<P, R>[] }).vectors;
}

export const GCRA_VECTORS = loadVectors<GcraParams, GcraResult>('gcra.json');
export const WINDOW_VECTORS = loadVectors<WindowParams, WindowResult>('sliding-window.json');

/** Golden numbers match within this (they are ms or counts). */
const TOLERANCE = 0.001;

/** Asserts each field listed in `expected`, naming the vector and step on failure. */
export function assertFields<R extends object>(
  actual: R,
  expected: Partial<R>,
  where: string,
): void {
  for (const [field, want] of Object.entries(expected)) {
    const got = (actual as Record<string, unknown>)[field];
    const message = `${where}: ${field} is ${String(got)}, expected ${String(want)}`;
    if (typeof want === 'number' && typeof got === 'number') {
      assert.ok(Math.abs(got - want) <= TOLERANCE, message);
    } else assert.equal(got, want, message);
  }
}

/** Registers the contract tests for a store made by `newStore` (one per test). */
export function runLimitStoreContract(
  name: string,
  newStore: () => MaybePromise<LimitStore>,
): void {
  const run = Math.random().toString(36).slice(2, 8);

  async function withStore(t: { after(fn: () => unknown): void }): Promise<LimitStore> {
    const store = await newStore();
    t.after(() => store.close());
    return store;
  }

  GCRA_VECTORS.forEach((vector, i) => {
    test(`${name} store, gcra golden #${i}: ${vector.description}`, async (t) => {
      const store = await withStore(t);
      const key = `golden:${run}:gcra:${i}`;
      for (const [j, step] of vector.steps.entries()) {
        const result = await store.gcra(key, step.now, step.cost, step.params ?? vector.params);
        assertFields(result, step.expect, `step ${j} (now ${step.now}, cost ${step.cost})`);
      }
    });
  });

  WINDOW_VECTORS.forEach((vector, i) => {
    test(`${name} store, window golden #${i}: ${vector.description}`, async (t) => {
      const store = await withStore(t);
      const key = `golden:${run}:window:${i}`;
      for (const [j, step] of vector.steps.entries()) {
        const result = await store.window(key, step.now, step.cost, step.params ?? vector.params);
        assertFields(result, step.expect, `step ${j} (now ${step.now}, cost ${step.cost})`);
      }
    });
  });

  test(`${name} store: keys are independent`, async (t) => {
    const store = await withStore(t);
    const gcra = { emissionMs: 1000, burst: 1, maxDelayMs: 0, limit: 60, periodMs: 60_000 };
    const window = { periodMs: 60_000, warn: 1, block: 1 };
    const now = 1_767_225_600_000;
    assert.equal((await store.gcra(`${run}:a`, now, 1, gcra)).allowed, true);
    assert.equal((await store.gcra(`${run}:a`, now, 1, gcra)).allowed, false);
    assert.equal((await store.window(`${run}:a`, now, 1, window)).allowed, true);
    assert.equal((await store.window(`${run}:a`, now, 1, window)).allowed, false);
    for (let i = 0; i < 200; i++) {
      const g = await store.gcra(`${run}:k${i}`, now, 1, gcra);
      const w = await store.window(`${run}:k${i}`, now, 1, window);
      assert.equal(g.allowed && w.allowed, true, `key ${i} is limited by another key`);
    }
  });

  test(`${name} store: gcraIn/windowIn, if offered, share state with the joined key`, async (t) => {
    const store = await withStore(t);
    if (store.gcraIn === undefined || store.windowIn === undefined) {
      t.skip('this store has no namespace fast path');
      return;
    }
    const gcra = { emissionMs: 1000, burst: 2, maxDelayMs: 0, limit: 60, periodMs: 60_000 };
    const window = { periodMs: 60_000, warn: 2, block: 2 };
    const now = 1_767_225_600_000;
    const pairs = [
      ['acct:', `${run}-acme`],
      ['route:', `search:${run}-acme`],
      ['', `${run}-bare`],
    ] as const;
    for (const [ns, id] of pairs) {
      const joined = ns + id;
      assert.equal((await store.gcraIn(ns, id, now, 1, gcra)).remaining, 1);
      assert.equal((await store.gcra(joined, now, 1, gcra)).remaining, 0, `gcra ${joined}`);
      assert.equal((await store.gcraIn(ns, id, now, 1, gcra)).allowed, false, `gcra ${joined}`);
      assert.equal((await store.window(joined, now, 1, window)).count, 1);
      assert.equal((await store.windowIn(ns, id, now, 1, window)).count, 2, `window ${joined}`);
      assert.equal((await store.window(joined, now, 1, window)).allowed, false, `window ${joined}`);
    }
    assert.equal(await store.size(), 2 * pairs.length);
  });

  test(`${name} store: size() counts the keys that hold state`, async (t) => {
    const store = await withStore(t);
    const gcra = { emissionMs: 1000, burst: 2, maxDelayMs: 0, limit: 60, periodMs: 60_000 };
    const window = { periodMs: 60_000, warn: 5, block: 5 };
    const now = 1_767_225_600_000;
    assert.equal(await store.size(), 0);
    for (const key of ['g1', 'g2', 'g3']) await store.gcra(`${run}:${key}`, now, 1, gcra);
    for (const key of ['w1', 'w2']) await store.window(`${run}:${key}`, now, 1, window);
    await store.gcra(`${run}:g1`, now, 1, gcra); // same key again
    assert.equal(await store.size(), 5);
    // A refused request on a new key records nothing.
    assert.equal((await store.gcra(`${run}:g4`, now, 3, gcra)).allowed, false);
    assert.equal((await store.window(`${run}:w3`, now, 6, window)).allowed, false);
    assert.equal(await store.size(), 5);
  });
}
