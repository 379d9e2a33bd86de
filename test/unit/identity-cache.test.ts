/**
 * What an unknown key costs the store: the identity cache knows every key as of its
 * last poll, so it asks the store about a hash it does not know only a bounded number of
 * times per poll interval, however many made-up keys arrive. The poll timer is set an
 * hour out and each poll is made by calling refresh(): no time passes, nothing sleeps.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateApiKey } from '../../src/core/api-key.ts';
import type { ApiKeyRecord, IpBlock } from '../../src/core/records.ts';
import {
  createIdentityCache,
  MISS_READS_PER_POLL,
  SWEEP_MS,
} from '../../src/gateway/identity-cache.ts';
import { MemoryRecordStore } from '../../src/store/memory-record-store.ts';
import { asyncRecordStore } from '../helpers/async-record-store.ts';

const HOUR = 3_600_000;
const FLOOD = 100_000;

/** The memory store, counting how often the cache looks a key up by hash. */
class CountingStore extends MemoryRecordStore {
  lookups = 0;
  override findKeyByHash(hash: string): ApiKeyRecord | undefined {
    this.lookups++;
    return super.findKeyByHash(hash);
  }
}

/** Stores a new active key of `account`; its hash. */
function addKey(store: MemoryRecordStore, account: string): string {
  if (store.getAccount(account) === undefined) {
    store.putAccount({ id: account, size: 0, plan: 'standard', createdAt: 0 });
  }
  const made = generateApiKey();
  store.putKey({
    id: made.id,
    accountId: account,
    hash: made.hash,
    status: 'active',
    suspendedUntil: undefined,
    createdAt: 0,
    updatedAt: 0,
    reason: undefined,
  });
  return made.hash;
}

const madeUp = (round: number, i: number) => `made-up-${round}-${String(i).padStart(6, '0')}`;

test(`a flood of ${FLOOD} made-up keys reads the store at most ${MISS_READS_PER_POLL} times per poll interval`, async () => {
  const store = new CountingStore();
  const known = addKey(store, 'acme');
  const cache = await createIdentityCache(store, { pollMs: HOUR });
  try {
    assert.equal(cache.byHash(known)?.accountId, 'acme', 'a key known at start: no lookup');
    assert.equal(store.lookups, 0);
    for (let round = 0; round < 3; round++) {
      const before = store.lookups;
      for (let i = 0; i < FLOOD; i++) assert.equal(cache.byHash(madeUp(round, i)), undefined);
      const reads = store.lookups - before;
      assert.ok(reads <= MISS_READS_PER_POLL, `round ${round}: ${reads} store reads`);
      await cache.refresh(); // the next poll: a new budget of reads
    }
    assert.ok(store.lookups <= 3 * MISS_READS_PER_POLL, `${store.lookups} reads in all`);
    // A made-up key already asked about is remembered: asking again reads nothing.
    const before = store.lookups;
    for (let i = 0; i < 10; i++) cache.byHash(madeUp(2, i));
    assert.equal(store.lookups, before);
  } finally {
    cache.close();
  }
});

test('a key created after the last poll works at its first request (one store read)', async () => {
  const store = new CountingStore();
  const cache = await createIdentityCache(store, { pollMs: HOUR });
  try {
    const hash = addKey(store, 'newcomer');
    assert.equal(cache.byHash(hash)?.accountId, 'newcomer');
    assert.equal(store.lookups, 1);
    assert.equal(cache.byHash(hash)?.accountId, 'newcomer', 'then from memory');
    assert.equal(store.lookups, 1);
  } finally {
    cache.close();
  }
});

test('during a flood that spent the reads, a key created now works from the next poll on', async () => {
  const store = new CountingStore();
  const cache = await createIdentityCache(store, { pollMs: HOUR });
  try {
    for (let i = 0; i < FLOOD; i++) cache.byHash(madeUp(0, i));
    const hash = addKey(store, 'late');
    const before = store.lookups;
    assert.equal(cache.byHash(hash), undefined, 'no read left in this interval: unknown for now');
    assert.equal(store.lookups, before);
    await cache.refresh();
    assert.equal(cache.byHash(hash)?.accountId, 'late');
    assert.equal(store.lookups, before, 'the poll brought it: no lookup');
  } finally {
    cache.close();
  }
});

test('a store that answers later: a made-up key flood makes the same bounded number of lookups', async () => {
  const inner = new CountingStore();
  const cache = await createIdentityCache(asyncRecordStore(inner), { pollMs: HOUR });
  try {
    const hash = addKey(inner, 'remote');
    assert.equal(cache.byHash(hash), undefined, 'this request misses; the lookup answers later');
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(cache.byHash(hash)?.accountId, 'remote', 'the next request finds it');
    for (let i = 0; i < FLOOD; i++) cache.byHash(madeUp(0, i));
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(inner.lookups <= MISS_READS_PER_POLL, `${inner.lookups} lookups`);
  } finally {
    cache.close();
  }
});

/** The memory store, counting the rows it hands out to a cache following its changes. */
class RowCountingStore extends MemoryRecordStore {
  rows = 0;
  override changesSince(seq: number) {
    const c = super.changesSince(seq);
    this.rows += c.keys.length + c.accounts.length + c.ipBlocks.length + c.liftedIps.length;
    return c;
  }
  override keyChangesSince(seq: number) {
    const c = super.keyChangesSince(seq);
    this.rows += c.keys.length;
    return c;
  }
  override listAccounts() {
    const all = super.listAccounts();
    this.rows += all.length;
    return all;
  }
  override listIpBlocks() {
    const all = super.listIpBlocks();
    this.rows += all.length;
    return all;
  }
}

const block = (ip: string, until?: number): IpBlock => ({
  ip,
  until,
  createdAt: 0,
  reason: 'test',
  reference: undefined,
  actor: 'cli:alice',
});

test('a poll reads only the rows changed since the last one: a revocation costs one row', async () => {
  const store = new RowCountingStore();
  const hashes: string[] = [];
  for (let i = 0; i < 1_000; i++) hashes.push(addKey(store, `acct-${i}`));
  for (let i = 0; i < 100; i++) store.putIpBlock(block(`192.0.2.${i}`));
  const cache = await createIdentityCache(store, { pollMs: HOUR, now: () => 0 });
  try {
    assert.equal(cache.byHash(hashes[7])?.status, 'active');
    store.rows = 0;

    const key = store.findKeyByHash(hashes[7]) as ApiKeyRecord;
    store.putKey({ ...key, status: 'revoked', reason: 'RL-7KQ4-M9XT' });
    await cache.refresh(); // the next poll
    assert.equal(cache.byHash(hashes[7])?.status, 'revoked', 'seen within one poll');
    assert.equal(store.rows, 1, 'one row read, not 1,000 accounts and 100 blocks');

    // An account changed, a block lifted, another put: three rows, each applied.
    store.rows = 0;
    store.putAccount({ id: 'acct-3', size: 50, plan: 'large', createdAt: 0 });
    assert.equal(store.deleteIpBlock('192.0.2.5'), true);
    store.putIpBlock(block('198.51.100.1'));
    await cache.refresh();
    assert.equal(store.rows, 3);
    assert.equal(cache.account('acct-3')?.plan, 'large');
    assert.equal(cache.ipBlock('192.0.2.5'), undefined, 'the lift reached the cache');
    assert.equal(cache.ipBlock('198.51.100.1')?.actor, 'cli:alice');
    assert.equal(cache.ipBlock('192.0.2.6')?.actor, 'cli:alice', 'the others stay');

    // Nothing changed: nothing read.
    store.rows = 0;
    await cache.refresh();
    assert.equal(store.rows, 0);
  } finally {
    cache.close();
  }
});

test(`a block that ended is forgotten at the first poll ${SWEEP_MS / 1000} s after the last sweep, as a prune in the store would`, async () => {
  const store = new MemoryRecordStore();
  let now = 1_000;
  store.putIpBlock(block('192.0.2.1', 2_000 + SWEEP_MS));
  store.putIpBlock(block('192.0.2.2'));
  const cache = await createIdentityCache(store, { pollMs: HOUR, now: () => now }); // a sweep
  try {
    assert.equal(cache.ipBlock('192.0.2.1')?.until, 2_000 + SWEEP_MS);
    now = 2_000 + SWEEP_MS;
    await cache.refresh();
    assert.equal(cache.ipBlock('192.0.2.1')?.until, 2_000 + SWEEP_MS, 'ending at now: held');
    now = 2_001 + SWEEP_MS;
    await cache.refresh();
    assert.equal(cache.ipBlock('192.0.2.1')?.until, 2_000 + SWEEP_MS, 'no sweep since');
    now = 2_000 + 2 * SWEEP_MS;
    await cache.refresh();
    assert.equal(cache.ipBlock('192.0.2.1'), undefined);
    assert.equal(cache.ipBlock('192.0.2.2')?.until, undefined, 'a block without an end stays');
  } finally {
    cache.close();
  }
});

/** The memory store telling of changes as the Redis store's pub/sub does, when asked to. */
class WatchedStore extends MemoryRecordStore {
  listeners = new Set<() => void>();
  watch(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  tell(): void {
    for (const listener of this.listeners) listener();
  }
}

test('a store that tells of a change makes the cache read it at once, not at the next poll', async () => {
  const store = new WatchedStore();
  const hash = addKey(store, 'acme');
  const cache = await createIdentityCache(store, { pollMs: HOUR, now: () => 0 });
  try {
    const key = store.findKeyByHash(hash) as ApiKeyRecord;
    store.putKey({ ...key, status: 'revoked', reason: 'leaked' });
    store.tell();
    // The read is the memory store's (it answers at once): a few turns of the loop, no timer.
    for (let i = 0; i < 10 && cache.byHash(hash)?.status !== 'revoked'; i++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    assert.equal(
      cache.byHash(hash)?.status,
      'revoked',
      'read on the nudge, an hour before the poll',
    );
  } finally {
    cache.close();
  }
  assert.equal(store.listeners.size, 0, 'closing the cache stops watching');
});
