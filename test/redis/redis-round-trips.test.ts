/**
 * What a proxied request costs in Redis, counted by the real redis-server (MONITOR)
 * around a bounded load through a gateway built here (buildApp): one script per request
 * decides the IP window, the account budget and takes the account's concurrency lease;
 * the lease's release rides with a later decision's script or, none coming, leaves in a
 * ZREM after the answer, never waited for. A refused request takes no lease; a delayed one takes its lease when its
 * delay ends, not before.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { type App, buildApp } from '../../src/app.ts';
import { generateApiKey } from '../../src/core/api-key.ts';
import { type ManualClock, manualClock } from '../../src/core/clock.ts';
import { withServerOverrides } from '../../src/core/policy/override.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
import { type DemoUpstream, startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import { MemoryRecordStore } from '../../src/store/memory-record-store.ts';
import { bearer, call, eventually } from '../helpers/http.ts';
import { T0 } from '../helpers/in-process-gateway.ts';
import { type RedisProcess, redisCli, startRedis } from '../helpers/redis-server.ts';

let redis: RedisProcess;
let upstream: DemoUpstream;
before(async () => {
  [redis, upstream] = await Promise.all([startRedis(), startDemoUpstream()]);
});
after(async () => {
  await upstream?.close();
  await redis?.stop();
});

let gateways = 0;
/** A gateway on this test's redis-server (its own prefix), with keys of accounts a0…a(n-1). */
async function gateway(plan: string, accounts: number) {
  const prefix = `rt${process.pid}-${gateways++}:`;
  const parsed = parsePolicyText(
    `store:\n  redis: ${redis.url}\n  prefix: "${prefix}"\n  timeout: 2s\n${plan}`,
    'round-trips.yaml',
  );
  const records = new MemoryRecordStore();
  const keys: string[] = [];
  for (let i = 0; i < accounts; i++) {
    records.putAccount({ id: `a${i}`, size: 0, plan: 'standard', createdAt: T0 });
    const made = generateApiKey();
    records.putKey({
      id: made.id,
      accountId: `a${i}`,
      hash: made.hash,
      status: 'active',
      suspendedUntil: undefined,
      createdAt: T0,
      updatedAt: T0,
      reason: undefined,
    });
    keys.push(made.secret);
  }
  const clock: ManualClock = manualClock(T0);
  const app: App = await buildApp({
    policy: withServerOverrides(parsed, { listen: '127.0.0.1:0', upstream: upstream.url }),
    recordStore: records,
    clock,
    logger: createLogger({ level: 'silent' }),
    keyPollMs: 60_000,
    shutdownGraceMs: 1_000,
  });
  const { url } = await app.listen();
  return { url, keys, clock, prefix, close: () => app.close() };
}

/**
 * Counts the commands clients send to Redis (MONITOR), per name, until `stop()`; the
 * commands the scripts run inside Redis (source `lua`) are no round trip, and are left out.
 */
async function countCommands() {
  const calls = new Map<string, number>();
  const scripts: string[][] = [];
  const client = new Redis(redis.url);
  const monitor = await client.monitor();
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    const name = args[0]!.toLowerCase();
    // This test's own look-ups (redis-cli) are no request's.
    if (source === 'lua' || name === 'scan' || name === 'zcard') return;
    calls.set(name, (calls.get(name) ?? 0) + 1);
    if (name === 'evalsha') scripts.push(args);
  });
  return {
    calls,
    /** The arguments of each script call, in order. */
    scripts,
    stop() {
      monitor.disconnect();
      client.disconnect();
    },
  };
}

/** Leases held now in Redis under `prefix` (every account). */
async function leasesHeld(prefix: string): Promise<number> {
  const keys = (await redisCli(redis.port, ['--scan', '--pattern', `${prefix}c*`]))
    .split('\n')
    .filter((k) => k.length > 0);
  let n = 0;
  for (const key of keys) n += Number((await redisCli(redis.port, ['zcard', key])).trim());
  return n;
}

/** Waits until no lease is held under `prefix` (releases are sent after the answers). */
async function noLeases(prefix: string): Promise<void> {
  await eventually(async () => ((await leasesHeld(prefix)) === 0 ? true : undefined));
}

const ROOMY =
  'plans:\n  standard:\n    base: 100000/min\n    min: 100000/min\n    max: 100000/min\n    burst: 100000\n    concurrency: 4\nip:\n  warn: 100000/min\n  block: 200000/min\n';

test('a proxied request costs one script in Redis, and its lease’s release at most one command', async (t) => {
  const gw = await gateway(ROOMY, 8);
  t.after(() => gw.close());
  // Warm: the scripts are loaded and the connection is up before counting.
  for (const key of gw.keys)
    assert.equal((await call(`${gw.url}/api/whoami`, { headers: bearer(key) })).status, 200);
  await noLeases(gw.prefix);
  const sent = await countCommands();
  const REQUESTS = 200;
  const INFLIGHT = 8;
  let made = 0;
  const statuses: number[] = [];
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      while (made < REQUESTS) {
        const key = gw.keys[made++ % gw.keys.length]!;
        statuses.push((await call(`${gw.url}/api/whoami`, { headers: bearer(key) })).status);
      }
    }),
  );
  assert.deepEqual(statuses, Array(REQUESTS).fill(200));
  // Releases are not waited for by the answers: wait for them here.
  await noLeases(gw.prefix);
  sent.stop();
  const stats = sent.calls;
  const perRequest = Object.fromEntries([...stats].map(([name, n]) => [name, n / REQUESTS]));
  t.diagnostic(`Redis commands per proxied request: ${JSON.stringify(perRequest)}`);
  assert.equal(stats.get('evalsha'), REQUESTS, 'one script per request');
  const others = [...stats].filter(([name]) => name !== 'evalsha');
  const otherCalls = others.reduce((sum, [, n]) => sum + n, 0);
  assert.ok(
    otherCalls <= REQUESTS,
    `at most one more command per request: ${JSON.stringify(perRequest)}`,
  );
});

test('a refused request takes no lease; a delayed one takes it when its delay ends', async (t) => {
  const gw = await gateway(
    'plans:\n  standard:\n    base: 60/min\n    min: 60/min\n    max: 60/min\n    burst: 1\n    maxDelay: 5s\n    concurrency: 2\n',
    1,
  );
  t.after(() => gw.close());
  const key = gw.keys[0]!;
  const first = await call(`${gw.url}/_test/slow?ms=300`, { headers: bearer(key) }).then((a) => a);
  assert.equal(first.status, 200);
  await noLeases(gw.prefix);
  // Over the burst: held 1 s on the manual clock; no lease while it waits.
  const delayed = call(`${gw.url}/api/whoami`, { headers: bearer(key) });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await leasesHeld(gw.prefix), 0, 'a delayed request holds no lease');
  gw.clock.advance(1_000);
  assert.equal((await delayed).status, 200);
  await noLeases(gw.prefix);
});

test("a request refused on its route's rate takes no lease of the account", async (t) => {
  const gw = await gateway(
    `${ROOMY}routes:\n  - name: once\n    path: /api/whoami\n    rate: 1/min\n`,
    1,
  );
  t.after(() => gw.close());
  const key = gw.keys[0]!;
  assert.equal((await call(`${gw.url}/api/whoami`, { headers: bearer(key) })).status, 200);
  await noLeases(gw.prefix);
  const sent = await countCommands();
  t.after(() => sent.stop());
  const refused = await call(`${gw.url}/api/whoami`, { headers: bearer(key) });
  assert.equal(refused.status, 429);
  assert.equal(refused.json<{ rule: string }>().rule, 'route-rate');
  // Its decision: the IP window and the account budget, then the route's rate.
  const lease = `${gw.prefix}c{acct:a0}`;
  await eventually(async () => (sent.scripts.length >= 2 ? true : undefined));
  const ofRefused = sent.scripts.splice(0);
  assert.ok(
    ofRefused.every((args) => !args.includes(lease)),
    `the refused decision asked for no lease: ${JSON.stringify(ofRefused)}`,
  );
  // Another route, with no rate of its own: its decision takes the lease in the same trip.
  assert.equal((await call(`${gw.url}/api/companies`, { headers: bearer(key) })).status, 200);
  await eventually(async () => (sent.scripts.length >= 1 ? true : undefined));
  assert.ok(sent.scripts[0]!.includes(lease), JSON.stringify(sent.scripts));
  await noLeases(gw.prefix);
});
