import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryLimitStore } from '../../src/store/memory-limit-store.ts';
import { answeringLater } from '../helpers/async-store.ts';
import { runLimitStoreContract } from './limit-store.contract.ts';

runLimitStoreContract('memory', () => new MemoryLimitStore());
// The same store answering with promises: every caller must be right for a Redis store.
runLimitStoreContract('memory, answering later', () => answeringLater(new MemoryLimitStore()));

const GCRA = { emissionMs: 1000, burst: 5, maxDelayMs: 0, limit: 60, periodMs: 60_000 };
const WINDOW = { periodMs: 60_000, warn: 100, block: 200 };
const T0 = 1_767_225_600_000;

test('memory store answers synchronously (the hot path creates no promise)', () => {
  const store = new MemoryLimitStore();
  assert.ok(!(store.gcra('a', T0, 1, GCRA) instanceof Promise));
  assert.ok(!(store.window('a', T0, 1, WINDOW) instanceof Promise));
  assert.equal(typeof store.size(), 'number');
});

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

test('traffic on one kind also sweeps the other kind', () => {
  const store = new MemoryLimitStore();
  for (let i = 0; i < 500; i++) store.window(`ip:${i}`, T0, 1, WINDOW);
  for (let i = 0; i < 2000; i++) store.gcra('acct:busy', T0 + 200_000 + i * 1000, 1, GCRA);
  assert.equal(store.size(), 1);
});

test('a flood of 100k distinct keys with maxKeys 10k never holds more than 10k', () => {
  const store = new MemoryLimitStore({ maxKeys: 10_000 });
  let most = 0;
  for (let i = 0; i < 100_000; i++) {
    // All within one window: nothing expires, only the cap can hold the line.
    store.window(
      `ip:10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      T0 + (i % 1000),
      1,
      WINDOW,
    );
    if (i % 1000 === 0) most = Math.max(most, store.size());
  }
  assert.ok(Math.max(most, store.size()) <= 10_000, `held ${most} keys`);
  assert.equal(store.size(), 10_000);
});

test('under the cap, a busy key outlives a flood of one-off keys (second chance)', () => {
  const store = new MemoryLimitStore({ maxKeys: 1_000 });
  const blocked = { periodMs: 60_000, warn: 1, block: 1 };
  assert.equal(store.window('ip:hammer', T0, 1, blocked).allowed, true);
  for (let i = 0; i < 10_000; i++) {
    store.window(`ip:flood-${i}`, T0 + 1, 1, blocked);
    // The blocked client keeps knocking and must stay blocked.
    if (i % 100 === 0) assert.equal(store.window('ip:hammer', T0 + 1, 1, blocked).allowed, false);
  }
  assert.ok(store.size() <= 1_000);
});

test('the cap evicts the oldest entries first', () => {
  const store = new MemoryLimitStore({ maxKeys: 3 });
  const one = { emissionMs: 1000, burst: 1, maxDelayMs: 0, limit: 60, periodMs: 60_000 };
  for (const key of ['a', 'b', 'c', 'd']) store.gcra(key, T0, 1, one);
  assert.equal(store.size(), 3);
  // 'a' was evicted: it starts afresh; 'b'…'d' are still limited.
  assert.equal(store.gcra('a', T0, 1, one).allowed, true);
  assert.equal(store.gcra('d', T0, 1, one).allowed, false);
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
