/**
 * The Redis record store against real redis-servers started here: the record-store
 * contract and its shared part (two instances on one Redis see one set of records and
 * one sequence), on a standalone server and on a three-node Cluster (every records key
 * on the `{records}` slot); and the pub/sub nudge that tells other nodes at once.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RedisLink } from '../../src/store/redis-link.ts';
import { RedisRecordStore } from '../../src/store/redis-record-store.ts';
import {
  key,
  runRecordStoreContract,
  runSharedRecordStoreContract,
} from '../contract/record-store.contract.ts';
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

let places = 0;
async function open(target: 'redis' | 'cluster', prefix: string): Promise<RedisRecordStore> {
  const link = new RedisLink(target === 'redis' ? { url: redis.url } : { cluster: cluster.nodes }, {
    timeoutMs: 2000,
  });
  assert.ok(await link.ready(10_000), `connected to ${target}`);
  return new RedisRecordStore(link, prefix, { closeLink: true });
}

for (const target of ['redis', 'cluster'] as const) {
  runRecordStoreContract(`redis record store (${target})`, () =>
    open(target, `r${process.pid}-${places++}:`),
  );
  runSharedRecordStoreContract(`redis record store (${target})`, () => {
    const prefix = `s${process.pid}-${places++}:`;
    return () => open(target, prefix);
  });
}

test('redis record store: a change on one instance nudges a watcher on another at once', async (t) => {
  const prefix = `w${process.pid}-${places++}:`;
  const [a, b] = await Promise.all([open('redis', prefix), open('redis', prefix)]);
  t.after(() => {
    a.close();
    b.close();
  });
  let nudged: () => void = () => {};
  const heard = new Promise<void>((resolve) => {
    nudged = resolve;
  });
  b.watch(() => nudged());
  // The subscription is made in the background: wait until Redis counts the subscriber.
  const until = Date.now() + 5000;
  while ((await redisSubscribers(a, `${prefix}{records}:changes`)) === 0) {
    assert.ok(Date.now() < until, 'subscribed within 5 s');
    await new Promise((r) => setTimeout(r, 10));
  }
  const start = performance.now();
  await a.putKey(key('KEY0000001', 'acme', { status: 'revoked' }));
  await heard;
  assert.ok(performance.now() - start < 500, 'nudged within 500 ms');
  assert.equal((await b.findKeyByHash('hash-of-KEY0000001'))?.status, 'revoked');
});

async function redisSubscribers(store: RedisRecordStore, channel: string): Promise<number> {
  const out = (await store.link.client.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
  return Number(out[1]);
}
