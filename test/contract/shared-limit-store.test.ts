import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SharedLimitStore } from '../../src/store/shared-limit-store.ts';
import { answeringLater } from '../helpers/async-store.ts';
import { runLimitStoreContract } from './limit-store.contract.ts';
import { runEvictionContract } from './limit-store-eviction.contract.ts';

runLimitStoreContract('shared', () => new SharedLimitStore({ maxKeys: 10_000 }));
runLimitStoreContract('shared, one stripe', () => new SharedLimitStore({ maxKeys: 1_000 }));
runLimitStoreContract('shared, answering later', () =>
  answeringLater(new SharedLimitStore({ maxKeys: 10_000 })),
);
// A store attached to another's buffers answers from the same state.
runLimitStoreContract('shared, attached', () =>
  SharedLimitStore.attach(new SharedLimitStore({ maxKeys: 10_000, stripes: 4 }).share()),
);

runEvictionContract(
  'shared store, one stripe',
  (maxKeys) => new SharedLimitStore({ maxKeys, stripes: 1 }),
);
runEvictionContract(
  'shared store, 8 stripes',
  (maxKeys) => new SharedLimitStore({ maxKeys: Math.max(maxKeys, 8), stripes: 8 }),
  // Oldest first holds within a stripe: across 8 stripes each stripe keeps its own order.
  { oldestFirst: false },
);

const GCRA = { emissionMs: 1000, burst: 5, maxDelayMs: 0, limit: 60, periodMs: 60_000 };
const WINDOW = { periodMs: 60_000, warn: 100, block: 200 };
const T0 = 1_767_225_600_000;

test('shared store: an attached store sees and changes the same state', () => {
  const a = new SharedLimitStore({ maxKeys: 1000 });
  const b = SharedLimitStore.attach(a.share());
  const one = { emissionMs: 1000, burst: 1, maxDelayMs: 0, limit: 60, periodMs: 60_000 };
  assert.equal(a.gcraIn('acct:', 'acme', T0, 1, one).allowed, true);
  assert.equal(b.gcra('acct:acme', T0, 1, one).allowed, false);
  assert.equal(
    b.window('ip:1.2.3.4', T0, 1, { periodMs: 60_000, warn: 1, block: 1 }).allowed,
    true,
  );
  assert.equal(a.size(), 2);
  b.close();
  assert.equal(a.size(), 0);
  assert.equal(a.gcra('acct:acme', T0, 1, one).allowed, true, 'close() empties it for both');
});

test('shared store: long and non-ASCII keys are kept apart (never a wrong hit)', () => {
  const store = new SharedLimitStore({ maxKeys: 1000 });
  const one = { emissionMs: 1000, burst: 1, maxDelayMs: 0, limit: 60, periodMs: 60_000 };
  const long = 'x'.repeat(200);
  const keys = [
    long,
    `${long}y`,
    `${long.slice(1)}y`,
    'ключ',
    'ключ2',
    'k'.repeat(48),
    'k'.repeat(49),
  ];
  for (const key of keys) assert.equal(store.gcra(key, T0, 1, one).allowed, true, key);
  for (const key of keys) assert.equal(store.gcra(key, T0, 1, one).allowed, false, key);
  assert.equal(store.size(), keys.length);
});

test('shared store: idle GCRA entries are evicted once their tat has passed', () => {
  const store = new SharedLimitStore({ maxKeys: 10_000 });
  for (let i = 0; i < 1000; i++) store.gcra(`acct:${i}`, T0, 1, GCRA);
  assert.equal(store.size(), 1000);
  for (let i = 0; i < 2000; i++) store.gcra('busy', T0 + 999, 1, GCRA);
  assert.equal(store.size(), 1001);
  // Other stripes are swept in turn: allow for the whole table's rows to be passed over.
  for (let i = 0; i < 20_000; i++) store.gcra('busy', T0 + 60_000, 1, GCRA);
  assert.equal(store.size(), 1, 'only the key in use remains');
});

test('shared store: idle window entries are evicted two windows after their start, not before', () => {
  const store = new SharedLimitStore({ maxKeys: 1000 });
  for (let i = 0; i < 1000; i++) store.window(`ip:${i}`, T0, 1, WINDOW);
  for (let i = 0; i < 3000; i++) store.window('ip:busy', T0 + 119_999, 1, WINDOW);
  assert.ok(store.size() >= 1000, 'state still weighs until start + 2P');
  for (let i = 0; i < 3000; i++) store.window('ip:busy', T0 + 120_000, 0, WINDOW);
  assert.equal(store.size(), 1, 'only the key in use remains');
});

test('shared store: the cap holds across kinds (a window flood evicts GCRA state only when it must)', () => {
  const store = new SharedLimitStore({ maxKeys: 100 });
  for (let i = 0; i < 10; i++) store.gcra(`acct:${i}`, T0, 1, GCRA);
  for (let i = 0; i < 1000; i++) store.window(`ip:${i}`, T0, 1, WINDOW);
  assert.equal(store.size(), 100);
});

test('shared store: a row written with an earlier expiry than the rest is still swept once idle', () => {
  // The sweep skips a stripe while now is below its bound on the rows' expiries; a write
  // of a lower expiry (a thread whose clock is behind) must lower that bound.
  const store = new SharedLimitStore({ maxKeys: 1000 });
  const late = T0 + 3_600_000;
  for (let i = 0; i < 100; i++) store.window(`ip:late-${i}`, late, 1, WINDOW);
  // Passes of the sweep: the bound becomes the late rows' expiry.
  for (let i = 0; i < 2000; i++) store.window('ip:late-0', late, 0, WINDOW);
  store.window('ip:early', T0, 1, WINDOW); // expires at T0 + 2P, long before the others
  for (let i = 0; i < 2000; i++) store.window('ip:late-0', T0 + 120_000, 0, WINDOW);
  assert.equal(store.size(), 100, 'the early row is freed, the late ones are kept');
});

test('shared store: the count of keys is exact across store objects, also after one is dropped', () => {
  // Each attached store counts in a slot of its own (no shared word written per change);
  // the keys held are the sum, so a thread that goes leaves its rows counted.
  const a = new SharedLimitStore({ maxKeys: 10_000, stripes: 4 });
  const attached = Array.from({ length: 3 }, () => SharedLimitStore.attach(a.share()));
  attached.forEach((s, n) => {
    for (let i = 0; i < 50 + n; i++) s.gcra(`acct:${n}-${i}`, T0, 1, GCRA);
  });
  assert.equal(a.size(), 153);
  attached[1].close();
  assert.equal(a.size(), 0);
});

test('shared store: the count of keys stays right when a thread’s slot wraps round int32', () => {
  // A thread that inserts what another sweeps only ever adds to its slot: after 2^31
  // changes (about half an hour of a busy gateway) the slot wraps; the sum must not.
  const a = new SharedLimitStore({ maxKeys: 10_000, stripes: 4 });
  const b = SharedLimitStore.attach(a.share()); // slot 2 (a has slot 1)
  const control = new Int32Array(a.share().control);
  control[16] = 2 ** 31 - 1; // a's slot: inserts…
  control[32] = -(2 ** 31 - 1); // …b's: as many removals, so no key held
  assert.equal(b.size(), 0);
  a.gcra('acct:wraps', T0, 1, GCRA); // a's slot wraps to -2^31
  assert.equal(a.size(), 1);
  assert.equal(b.size(), 1);
});
