import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryLimitStore } from '../../src/store/memory-limit-store.ts';
import { answeringLater } from '../helpers/async-store.ts';
import { runLimitStoreContract } from './limit-store.contract.ts';
import { runEvictionContract } from './limit-store-eviction.contract.ts';

runLimitStoreContract('memory', () => new MemoryLimitStore());
// The same store answering with promises: every caller must be right for a Redis store.
runLimitStoreContract('memory, answering later', () => answeringLater(new MemoryLimitStore()));
runEvictionContract('memory store', (maxKeys) => new MemoryLimitStore({ maxKeys }));

const GCRA = { emissionMs: 1000, burst: 5, maxDelayMs: 0, limit: 60, periodMs: 60_000 };
const WINDOW = { periodMs: 60_000, warn: 100, block: 200 };
const T0 = 1_767_225_600_000;

test('idle GCRA entries are evicted once their tat has passed', () => {
  const store = new MemoryLimitStore();
  for (let i = 0; i < 1000; i++) store.gcra(`acct:${i}`, T0, 1, GCRA); // tat = T0 + 1000
  assert.equal(store.size(), 1000);
  // Before the tat nothing is dead, whatever the traffic.
  for (let i = 0; i < 2000; i++) store.gcra('busy', T0 + 999, 1, GCRA);
  assert.equal(store.size(), 1001);
  // After it, ordinary traffic on one key sweeps the rest away.
  for (let i = 0; i < 2000; i++) store.gcra('busy', T0 + 60_000, 1, GCRA);
  assert.equal(store.size(), 1, 'only the key in use remains');
});

test('idle window entries are evicted two windows after their start, not before', () => {
  const store = new MemoryLimitStore();
  for (let i = 0; i < 1000; i++) store.window(`ip:${i}`, T0, 1, WINDOW); // window starts at T0
  for (let i = 0; i < 3000; i++) store.window('ip:busy', T0 + 119_999, 1, WINDOW);
  assert.equal(store.size(), 1001, 'state still weighs until start + 2P');
  for (let i = 0; i < 3000; i++) store.window('ip:busy', T0 + 120_000, 0, WINDOW);
  assert.equal(store.size(), 1, 'only the key in use remains');
});

test('freed slots are reused: the columns do not grow past the live set', () => {
  const store = new MemoryLimitStore({ initialCapacity: 16 });
  for (let round = 0; round < 50; round++) {
    const now = T0 + round * 10_000;
    for (let i = 0; i < 100; i++) store.gcra(`r${round}-${i}`, now, 1, GCRA);
  }
  // Each round's keys are dead (tat = now + 1 s) by the next round: 5,000 keys were
  // seen, but only about two rounds' worth are ever held.
  assert.ok(store.size() <= 200, `size ${store.size()}`);
  // 16 slots to start, doubled to hold ~200 at most.
  assert.ok(store.slotCapacity() <= 256, `capacity ${store.slotCapacity()}`);
});

test('close() empties the store', () => {
  const store = new MemoryLimitStore();
  store.gcra('a', T0, 1, GCRA);
  store.close();
  assert.equal(store.size(), 0);
});

test('keys of many namespaces stay consistent past the per-namespace tables', () => {
  const store = new MemoryLimitStore();
  const one = { emissionMs: 1000, burst: 1, maxDelayMs: 0, limit: 60, periodMs: 60_000 };
  for (let n = 0; n < 100; n++) {
    assert.equal(store.gcraIn(`ns${n}:`, 'x', T0, 1, one).allowed, true);
    assert.equal(store.gcra(`ns${n}:x`, T0, 1, one).allowed, false, `namespace ${n}`);
    assert.equal(store.gcraIn(`ns${n}:`, 'y', T0, 1, one).allowed, true, 'another id is separate');
  }
  assert.equal(store.size(), 200);
});
