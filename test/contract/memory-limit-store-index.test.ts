/**
 * The memory store past INDEX_FROM rows per table, where its tables find keys through
 * their own index (and `prefetch` does something): the same contract, run on a store
 * whose tables index from the first row, and the same answers as a store that does not.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryLimitStore } from '../../src/store/memory-limit-store.ts';
import { runLimitStoreContract } from './limit-store.contract.ts';

runLimitStoreContract('memory (own index)', () => new MemoryLimitStore({ indexFrom: 0 }));

const T0 = 1_767_225_600_000;

test('with its own index and prefetch, the store answers as it does with Maps', () => {
  // No cap: which dead entries a sweep has freed yet may differ (rows sit elsewhere), but
  // dead state answers as no state does, so every answer must be the same.
  const indexed = new MemoryLimitStore({ indexFrom: 0, initialCapacity: 4 });
  const mapped = new MemoryLimitStore({ initialCapacity: 4 });
  const window = { periodMs: 60_000, warn: 3, block: 5 };
  const gcra = { emissionMs: 1_000, burst: 3, maxDelayMs: 500, limit: 60, periodMs: 60_000 };
  let seed = 42;
  const next = () => {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
    return seed / 2 ** 32;
  };
  let now = T0;
  for (let step = 0; step < 30_000; step++) {
    now += Math.floor(next() * 50);
    // Short and long ids, IPv6 ones past what a row holds, one past Latin-1.
    const n = Math.floor(next() * 400);
    const ip = n % 9 === 0 ? `2001:db8:85a3::8a2e:370:${n}:${n}` : `10.0.${n >> 8}.${n & 255}`;
    const account = n % 13 === 0 ? `компания-${n % 50}` : `acct-${n % 120}`;
    indexed.prefetch('ip:', ip, 'acct:', account);
    const a = [
      indexed.windowIn('ip:', ip, now, 1, window),
      mapped.windowIn('ip:', ip, now, 1, window),
    ];
    assert.deepEqual(a[0], a[1], `step ${step}: window of ${ip}`);
    if (!a[0].allowed) continue;
    const cost = Math.floor(next() * 3);
    const b = [
      indexed.gcraIn('acct:', account, now, cost, gcra),
      mapped.gcraIn('acct:', account, now, cost, gcra),
    ];
    assert.deepEqual(b[0], b[1], `step ${step}: gcra of ${account}`);
  }
  assert.ok(indexed.size() > 100 && indexed.size() <= 570, `${indexed.size()} keys held`);
});
