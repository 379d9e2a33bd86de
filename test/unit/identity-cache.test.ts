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
  MAX_MISSES,
  MISS_READS_PER_POLL,
  SWEEP_MS,
} from '../../src/gateway/identity-cache.ts';
import { MemoryRecordStore } from '../../src/store/memory-record-store.ts';
import type { RecordChanges, RecordStore } from '../../src/store/types.ts';
import { asyncRecordStore } from '../helpers/async-record-store.ts';

const HOUR = 3_600_000;
const FLOOD = 100_000;

/** The memory store, counting how often the cache looks a key up by hash. */
class CountingStore extends MemoryRecordStore {
  lookups = 0;
  accountReads = 0;
  override findKeyByHash(hash: string): ApiKeyRecord | undefined {
    this.lookups++;
    return super.findKeyByHash(hash);
  }
  override getAccount(id: string) {
    this.accountReads++;
    return super.getAccount(id);
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

test('a poll gives back the reads a flood spent: a key created after it works at once', async () => {
  const store = new CountingStore();
  const cache = await createIdentityCache(store, { pollMs: HOUR });
  try {
    for (let i = 0; i < 2 * MISS_READS_PER_POLL; i++) cache.byHash(madeUp(0, i));
    await cache.refresh();
    const hash = addKey(store, 'after-the-poll');
    assert.equal(cache.byHash(hash)?.accountId, 'after-the-poll');
  } finally {
    cache.close();
  }
});

test(`the last ${MAX_MISSES} unknown hashes are remembered, the oldest forgotten first`, async () => {
  const store = new CountingStore();
  const cache = await createIdentityCache(store, { pollMs: HOUR });
  try {
    for (let i = 0; i <= MAX_MISSES; i++) {
      if (i % MISS_READS_PER_POLL === 0) await cache.refresh();
      assert.equal(cache.byHash(madeUp(0, i)), undefined);
    }
    assert.equal(store.lookups, MAX_MISSES + 1);
    await cache.refresh();
    cache.byHash(madeUp(0, 1));
    assert.equal(store.lookups, MAX_MISSES + 1, 'the second is still remembered');
    cache.byHash(madeUp(0, 0));
    assert.equal(store.lookups, MAX_MISSES + 2, 'the first was forgotten: read again');
  } finally {
    cache.close();
  }
});

test('a key found by a lookup brings its account when the cache lacks it, only then, and a key without one is still the key', async () => {
  const store = new CountingStore();
  addKey(store, 'acme');
  const cache = await createIdentityCache(store, { pollMs: HOUR });
  try {
    const newcomer = addKey(store, 'newcomer');
    const reads = store.accountReads;
    assert.equal(cache.byHash(newcomer)?.accountId, 'newcomer');
    assert.equal(cache.account('newcomer')?.id, 'newcomer');
    assert.equal(store.accountReads, reads + 1);
    // An account the cache holds is not read again.
    assert.equal(cache.byHash(addKey(store, 'acme'))?.accountId, 'acme');
    assert.equal(store.accountReads, reads + 2, 'one read by addKey itself, none by the cache');
    // A key whose account is gone: the key is answered, no account made up.
    const orphan = generateApiKey();
    store.putKey({
      id: orphan.id,
      accountId: 'gone',
      hash: orphan.hash,
      status: 'active',
      suspendedUntil: undefined,
      createdAt: 0,
      updatedAt: 0,
      reason: undefined,
    });
    assert.equal(cache.byHash(orphan.hash)?.accountId, 'gone');
    assert.equal(cache.account('gone'), undefined);
  } finally {
    cache.close();
  }
});

/** The memory store whose key and account reads fail later, as a store across a network does. */
function failingLater(inner: MemoryRecordStore) {
  const state = { failAccounts: false };
  const store = new Proxy(inner, {
    get(target, name) {
      if (name === 'findKeyByHash') {
        return (hash: string) =>
          hash === 'lookup-fails'
            ? Promise.reject(new Error('lookup down'))
            : target.findKeyByHash(hash);
      }
      if (name === 'getAccount' && state.failAccounts) {
        return () => Promise.reject(new Error('account down'));
      }
      const value = Reflect.get(target, name, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as unknown as RecordStore;
  return { store, state };
}

test("a lookup or account read that fails later is the onError hook's, not an unhandled rejection", async () => {
  const inner = new MemoryRecordStore();
  const { store, state } = failingLater(inner);
  const errors: string[] = [];
  const cache = await createIdentityCache(store, {
    pollMs: HOUR,
    onError: (error) => errors.push((error as Error).message),
  });
  try {
    const hash = addKey(inner, 'acme');
    state.failAccounts = true;
    assert.equal(cache.byHash('lookup-fails'), undefined);
    assert.equal(cache.byHash(hash)?.accountId, 'acme');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(errors.sort(), ['account down', 'lookup down']);
  } finally {
    cache.close();
  }
});

test('what this process changes applies at once, before the next poll', async () => {
  const store = new MemoryRecordStore();
  const hash = addKey(store, 'acme');
  const cache = await createIdentityCache(store, { pollMs: HOUR, now: () => 0 });
  try {
    const key = cache.byHash(hash) as ApiKeyRecord;
    cache.putKey({ ...key, status: 'revoked', reason: 'leaked' });
    assert.equal(cache.byHash(hash)?.status, 'revoked');
    cache.putIpBlock(block('203.0.113.1', 5_000));
    assert.equal(cache.ipBlock('203.0.113.1')?.until, 5_000);
  } finally {
    cache.close();
  }
});

test('the first block after none is swept at the next poll, the sweep not put off by the empty ones', async () => {
  let now = 0;
  const cache = await createIdentityCache(new MemoryRecordStore(), {
    pollMs: HOUR,
    now: () => now,
  });
  try {
    cache.putIpBlock(block('203.0.113.1', 10));
    now = 20;
    await cache.refresh();
    assert.equal(cache.ipBlock('203.0.113.1'), undefined);
  } finally {
    cache.close();
  }
});

test('the cache polls on its timer, and no more once closed', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const store = new MemoryRecordStore();
  const hash = addKey(store, 'acme');
  let reads = 0;
  const counted = new Proxy(store, {
    get(target, name) {
      const value = Reflect.get(target, name, target);
      if (name === 'changesSince') reads++;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const cache = await createIdentityCache(counted, { pollMs: 1_000, now: () => 0 });
  const key = store.findKeyByHash(hash) as ApiKeyRecord;
  store.putKey({ ...key, status: 'revoked', reason: 'leaked' });
  t.mock.timers.tick(1_000);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(cache.byHash(hash)?.status, 'revoked', 'read on the first tick');
  cache.close();
  const before = reads;
  t.mock.timers.tick(10_000);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(reads, before, 'closed: no poll');
});

/**
 * A watched store whose change reads are answered when the test says: each read is
 * made when asked (what it returns is fixed then), its answer held until `release`.
 */
function heldReads(inner: WatchedStore) {
  const state = { held: false, fail: false, calls: 0, inFlight: 0, most: 0 };
  const waiting: (() => void)[] = [];
  const store = new Proxy(inner, {
    get(target, name) {
      const value = Reflect.get(target, name, target);
      if (name !== 'changesSince' || !state.held) {
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return (seq: number): Promise<RecordChanges> => {
        state.calls++;
        if (state.fail) return Promise.reject(new Error('store down'));
        const answer = target.changesSince(seq);
        state.most = Math.max(state.most, ++state.inFlight);
        return new Promise((resolve) =>
          waiting.push(() => {
            state.inFlight--;
            resolve(answer);
          }),
        );
      };
    },
  }) as unknown as RecordStore;
  const release = async () => {
    for (let turn = 0; turn < 5; turn++) {
      for (const answer of waiting.splice(0)) answer();
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  return { store, state, release };
}

test('a nudge during a poll runs one more poll after it, never two at once, and no more', async () => {
  const inner = new WatchedStore();
  const first = addKey(inner, 'acme');
  const second = addKey(inner, 'acme');
  const { store, state, release } = heldReads(inner);
  const cache = await createIdentityCache(store, { pollMs: HOUR, now: () => 0 });
  try {
    state.held = true;
    inner.tell();
    await release();
    assert.equal(state.calls, 1, 'one nudge, one read');

    const revoke = (hash: string) => {
      const key = inner.findKeyByHash(hash) as ApiKeyRecord;
      inner.putKey({ ...key, status: 'revoked', reason: 'leaked' });
    };
    revoke(first);
    inner.tell(); // a poll starts: its read sees the first revocation
    revoke(second); // lands after that read
    inner.tell(); // during the poll
    assert.equal(state.calls, 2, 'the second nudge waits for the poll under way');
    await release();
    assert.equal(cache.byHash(first)?.status, 'revoked');
    assert.equal(cache.byHash(second)?.status, 'revoked', 'the poll after it read the second');
    assert.equal(state.calls, 3);
    assert.equal(state.most, 1, 'never two reads at once');

    inner.tell();
    await release();
    assert.equal(state.calls, 4, 'a later nudge polls again');
  } finally {
    cache.close();
  }
});

test("a poll that fails is the onError hook's; without a hook it is dropped, and polling goes on", async () => {
  for (const withHook of [true, false]) {
    const inner = new WatchedStore();
    const { store, state, release } = heldReads(inner);
    const errors: string[] = [];
    const cache = await createIdentityCache(store, {
      pollMs: HOUR,
      now: () => 0,
      onError: withHook ? (error) => errors.push((error as Error).message) : undefined,
    });
    try {
      state.held = true;
      state.fail = true;
      inner.tell();
      await release();
      assert.deepEqual(errors, withHook ? ['store down'] : []);
      state.fail = false;
      inner.tell();
      await release();
      assert.equal(state.calls, 2);
    } finally {
      cache.close();
    }
  }
});

test('a cache nobody closed keeps no process alive (its timer is unref-ed)', async () => {
  // Left open on purpose: were its hourly timer to hold the event loop, this file would
  // never end.
  await createIdentityCache(new MemoryRecordStore(), { pollMs: HOUR });
});
