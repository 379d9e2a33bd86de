/**
 * The Redis limit store against a real redis-server (started here on a free loopback
 * port): the contract suite and golden vectors, the one-script decision against the
 * memory store's answers, key TTLs; and a three-node Redis Cluster.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { GcraParams, WindowParams } from '../../src/core/limiter/types.ts';
import { MemoryLimitStore } from '../../src/store/memory-limit-store.ts';
import { RedisLimitStore } from '../../src/store/redis-limit-store.ts';
import { RedisLink } from '../../src/store/redis-link.ts';
import { runLimitStoreContract } from '../contract/limit-store.contract.ts';
import {
  type RedisClusterProcess,
  type RedisProcess,
  startRedisAndCluster,
} from '../helpers/redis-server.ts';

let redis: RedisProcess;
let cluster: RedisClusterProcess;
before(async () => {
  [redis, cluster] = await startRedisAndCluster();
});
after(async () => {
  await Promise.all([redis?.stop(), cluster?.stop()]);
});

let stores = 0;
/** A store on its own connection and prefix (so size() counts only its keys). */
async function redisStore(): Promise<RedisLimitStore> {
  const link = new RedisLink({ url: redis.url }, { timeoutMs: 1000 });
  assert.ok(await link.ready(10_000), 'connected to redis');
  return new RedisLimitStore(link, `t${process.pid}-${stores++}:`, { closeLink: true });
}
async function clusterStore(): Promise<RedisLimitStore> {
  const link = new RedisLink({ cluster: cluster.nodes }, { timeoutMs: 1000 });
  assert.ok(await link.ready(10_000), 'connected to the cluster');
  return new RedisLimitStore(link, `c${process.pid}-${stores++}:`, { closeLink: true });
}

runLimitStoreContract('redis', redisStore);
runLimitStoreContract('redis cluster', clusterStore);

const T0 = 1_767_225_600_000;

/** A deterministic pseudo-random sequence (no Math.random: a failure replays). */
function lcg(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2_147_483_648;
    return s / 2_147_483_648;
  };
}

for (const [name, make] of [
  ['redis', redisStore],
  ['redis cluster', clusterStore],
] as const) {
  test(`${name}: windowThenGcra answers exactly what the memory store's two steps answer`, async (t) => {
    const store = await make();
    t.after(() => store.close());
    const memory = new MemoryLimitStore();
    const random = lcg(7);
    const w: WindowParams = { periodMs: 1000, warn: 6, block: 9 };
    // A fractional emission interval (7 per minute) and a delay, so no float slips by.
    const g: GcraParams = {
      emissionMs: 60_000 / 7,
      burst: 3,
      maxDelayMs: 20_000,
      limit: 7,
      periodMs: 60_000,
    };
    let now = T0;
    for (let i = 0; i < 300; i++) {
      now += Math.floor(random() * 700);
      const ip = `ip:10.0.0.${Math.floor(random() * 3)}`;
      const acct = `acct:a${Math.floor(random() * 2)}`;
      const cost = 1 + Math.floor(random() * 3);
      const got = await store.windowThenGcra(ip, w, acct, cost, g, now);
      const wantWindow = memory.window(ip, now, 1, w);
      const wantGcra = wantWindow.allowed ? memory.gcra(acct, now, cost, g) : undefined;
      assert.deepEqual(got, { window: wantWindow, gcra: wantGcra }, `step ${i} at ${now - T0}`);
    }
  });

  test(`${name}: a decision with a slot takes the account's lease only when allowed at once, up to the limit`, async (t) => {
    const store = await make();
    t.after(() => store.close());
    // What the lease queues are told, in order (RedisLeaseQueues is the real taker).
    const told: string[] = [];
    let n = 0;
    store.takeLeasesWith({
      leaseMs: 10_000,
      offer: () => `m${++n}`,
      granted: (account, member) => told.push(`granted ${account} ${member}`),
      full: (account) => told.push(`full ${account}`),
      failed: (account, member) => told.push(`failed ${account} ${member}`),
      frees: () => [],
    });
    const w: WindowParams = { periodMs: 60_000, warn: 100, block: 4 };
    const g: GcraParams = {
      emissionMs: 1000,
      burst: 2,
      maxDelayMs: 5_000,
      limit: 60,
      periodMs: 60_000,
    };
    const slot = { account: 'acme', limit: 2 };
    const decide = (ip: string, cost = 1) =>
      store.windowThenGcra(`ip:${ip}`, w, 'acct:acme', cost, g, T0, slot);
    const memory = new MemoryLimitStore();
    const expect = (ip: string, cost = 1) => {
      const window = memory.window(`ip:${ip}`, T0, 1, w);
      return { window, gcra: window.allowed ? memory.gcra('acct:acme', T0, cost, g) : undefined };
    };
    // Two allowed at once (burst 2): both take a lease.
    assert.deepEqual(await decide('a'), expect('a'));
    assert.deepEqual(await decide('a'), expect('a'));
    // A third is delayed (1 s): no lease.
    assert.deepEqual(await decide('a'), expect('a'));
    // Refused by the account's budget (cost 9 waits past maxDelay): no lease.
    assert.deepEqual(await decide('b', 9), expect('b', 9));
    // Refused by the IP window (block 4: the fifth from `a`): no lease, and no budget spent.
    assert.deepEqual(await decide('a'), expect('a'));
    assert.equal(await store.link.client.zcard(`${store.prefix}c{acct:acme}`), 2);
    // Allowed at once again later, but both slots are taken: the account is full.
    const later = await store.windowThenGcra('ip:c', w, 'acct:acme', 1, g, T0 + 5_000, slot);
    assert.equal(later.gcra?.allowed, true);
    assert.deepEqual(told, ['granted acme m1', 'granted acme m2', 'full acme']);
  });
}

test('redis: written keys expire with their state (GCRA at its tat, a window after two periods)', async (t) => {
  const store = await redisStore();
  t.after(() => store.close());
  const g: GcraParams = { emissionMs: 1000, burst: 5, maxDelayMs: 0, limit: 60, periodMs: 60_000 };
  await store.gcra('acct:ttl', T0, 3, g); // tat = T0 + 3000
  await store.window('ip:ttl', T0 + 15_000, 1, { periodMs: 60_000, warn: 5, block: 9 });
  const client = store.link.client;
  const gcraTtl = await client.pttl(`${store.prefix}g{acct:ttl}`);
  const windowTtl = await client.pttl(`${store.prefix}w{ip:ttl}`);
  assert.ok(gcraTtl > 2900 && gcraTtl <= 3000, `GCRA TTL ${gcraTtl}`);
  // The window starts at T0 (a multiple of 60 s): state until T0 + 120 s, 105 s from now.
  assert.ok(windowTtl > 104_900 && windowTtl <= 105_000, `window TTL ${windowTtl}`);
});

test('redis cluster: one store spreads keys over the three masters and finds each again', async (t) => {
  const store = await clusterStore();
  t.after(() => store.close());
  const g: GcraParams = { emissionMs: 1000, burst: 1, maxDelayMs: 0, limit: 60, periodMs: 60_000 };
  for (let i = 0; i < 60; i++)
    assert.equal((await store.gcra(`acct:${i}`, T0, 1, g)).allowed, true);
  for (let i = 0; i < 60; i++) {
    assert.equal((await store.gcra(`acct:${i}`, T0, 1, g)).allowed, false, `acct:${i}`);
  }
  const client = store.link.client;
  assert.ok('nodes' in client);
  const perNode = await Promise.all(client.nodes('master').map((n) => n.dbsize()));
  assert.equal(perNode.length, 3);
  assert.ok(
    perNode.every((n) => n > 0),
    `keys per master: ${perNode.join(', ')}`,
  );
  assert.equal(await store.size(), 60);
});

test('redis: a decision after the script cache is flushed (a restarted Redis) loads the script again', async (t) => {
  const store = await redisStore();
  t.after(() => store.close());
  const w: WindowParams = { periodMs: 60_000, warn: 5, block: 9 };
  const g: GcraParams = { emissionMs: 1000, burst: 5, maxDelayMs: 0, limit: 60, periodMs: 60_000 };
  const first = await store.windowThenGcra('ip:flush', w, 'acct:flush', 1, g, T0);
  await store.link.client.script('FLUSH');
  const second = await store.windowThenGcra('ip:flush', w, 'acct:flush', 1, g, T0);
  assert.equal(first.window.count, 1);
  assert.equal(second.window.count, 2);
  assert.equal(second.gcra?.remaining, 3);
});
