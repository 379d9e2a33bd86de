/**
 * Gateways built in this process (buildApp) on a real redis-server: two gateways share
 * one account's budget; Redis hung (SIGSTOP) or killed mid-load → every decision falls
 * back to the insurance limiter within the policy's 50 ms (plus a stated margin), no
 * request hangs, /readyz says degraded, /metrics counts it, one log line per change;
 * Redis back → decisions are Redis' again. onFailure: closed → 503 limits-unavailable.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { type App, buildApp } from '../../src/app.ts';
import { generateApiKey } from '../../src/core/api-key.ts';
import { manualClock } from '../../src/core/clock.ts';
import { withServerOverrides } from '../../src/core/policy/override.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
import { type DemoUpstream, startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import { MemoryRecordStore } from '../../src/store/memory-record-store.ts';
import { bearer, call } from '../helpers/http.ts';
import { T0, until } from '../helpers/in-process-gateway.ts';
import { type RedisProcess, redisCli, startRedis } from '../helpers/redis-server.ts';

/** The policy's bound on waiting for Redis, and what this test allows on top of it (a
 * busy 2-core machine shared with other test files: scheduling, the HTTP round trip). */
const TIMEOUT_MS = 50;
const MARGIN_MS = 250;

let upstream: DemoUpstream;
before(async () => {
  upstream = await startDemoUpstream();
});
after(() => upstream.close());

interface Gateway {
  url: string;
  adminUrl: string;
  app: App;
  key: string;
  /** Log lines, parsed, with the time pino stamped on each. */
  logs: { event?: string; time: number; msg: string }[];
  close(): Promise<void>;
}

/** A gateway on `redis` (store settings in YAML flow form), with account `acme` and its key. */
async function gateway(records: MemoryRecordStore, store: string, policy = ''): Promise<Gateway> {
  const parsed = parsePolicyText(`store: ${store}\n${policy}`, 'redis-test.yaml');
  const logs: Gateway['logs'] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line));
      done();
    },
  });
  const app = await buildApp({
    policy: withServerOverrides(parsed, { listen: '127.0.0.1:0', upstream: upstream.url }),
    recordStore: records,
    clock: manualClock(T0),
    logger: createLogger({ level: 'info', destination }),
    admin: { host: '127.0.0.1', port: 0, token: 'admin-token' },
    incidentFlushMs: 50,
    keyPollMs: 50,
    shutdownGraceMs: 1_000,
  });
  const { url, adminUrl } = await app.listen();
  return { url, adminUrl: adminUrl!, app, key: '', logs, close: () => app.close() };
}

function addKey(records: MemoryRecordStore, account: string): string {
  if (records.getAccount(account) === undefined) {
    records.putAccount({ id: account, size: 0, plan: 'standard', createdAt: T0 });
  }
  const made = generateApiKey();
  records.putKey({
    id: made.id,
    accountId: account,
    hash: made.hash,
    status: 'active',
    suspendedUntil: undefined,
    createdAt: T0,
    updatedAt: T0,
    reason: undefined,
  });
  return made.secret;
}

async function metric(gw: Gateway, name: string): Promise<number> {
  const text = (await call(`${gw.adminUrl}/metrics`, { headers: bearer('admin-token') })).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}

/** Keys sluice holds in this Redis. */
async function redisKeys(redis: RedisProcess): Promise<number> {
  return Number((await redisCli(redis.port, ['dbsize'])).trim());
}

interface Sample {
  start: number;
  end: number;
  status: number;
}

/**
 * `workers` clients sending requests one after another until `stop()` (bounded: at
 * most `maxMs`), each request timed.
 */
function load(url: string, key: string, workers: number, maxMs: number) {
  const samples: Sample[] = [];
  const errors: unknown[] = [];
  let stopped = false;
  const deadline = performance.now() + maxMs;
  const runs = Array.from({ length: workers }, async () => {
    while (!stopped && performance.now() < deadline) {
      const start = performance.now();
      // A request that fails (no answer at all) is a sample too: status 0.
      const status = await call(`${url}/api/whoami`, { headers: bearer(key) }).then(
        (res) => res.status,
        (error: unknown) => {
          errors.push(error);
          return 0;
        },
      );
      samples.push({ start, end: performance.now(), status });
    }
  });
  return {
    samples,
    errors,
    async stop() {
      stopped = true;
      await Promise.all(runs);
    },
  };
}

const BIG =
  'plans:\n  standard:\n    base: 100000/min\n    min: 100000/min\n    max: 100000/min\n    burst: 100000\nip:\n  warn: 100000/min\n  block: 200000/min\n';

test('two gateways on one Redis share one account budget', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const records = new MemoryRecordStore();
  const key = addKey(records, 'acme');
  // Burst 6, and no slowing: the 7th request of the account is refused, wherever it comes.
  const policy =
    'plans:\n  standard:\n    base: 6/min\n    min: 6/min\n    max: 6/min\n    burst: 6\n    maxDelay: 0s\n';
  // A generous timeout: this test is about sharing, and a busy machine may be slow.
  const store = `{redis: "${redis.url}", timeout: 2s, onFailure: closed}`;
  const a = await gateway(records, store, policy);
  t.after(() => a.close());
  const b = await gateway(records, store, policy);
  t.after(() => b.close());
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) {
    const gw = i % 2 === 0 ? a : b;
    statuses.push((await call(`${gw.url}/api/whoami`, { headers: bearer(key) })).status);
  }
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 429, 429]);
  assert.ok((await redisKeys(redis)) >= 2, 'the IP window and the budget are in Redis');
});

test('Redis hung, then killed, mid-load: the insurance limiter decides within the bound, no request hangs, and Redis takes over again when it is back', async (t) => {
  let redis = await startRedis();
  const port = redis.port;
  t.after(() => redis.stop());
  const records = new MemoryRecordStore();
  const key = addKey(records, 'acme');
  const gw = await gateway(
    records,
    `{redis: "${redis.url}", timeout: ${TIMEOUT_MS}ms, onFailure: open}`,
    BIG,
  );
  t.after(() => gw.close());
  const ready = async () => (await call(`${gw.url}/readyz`)).json();
  assert.deepEqual(await ready(), { status: 'ready' });
  assert.equal(await metric(gw, 'sluice_limit_store_degraded'), 0);

  const downs = () => gw.logs.filter((l) => l.event === 'limit-store-down');
  const ups = () => gw.logs.filter((l) => l.event === 'limit-store-up');
  // A 50 ms bound on a machine shared with other tests may trip before any fault: the
  // fallback measured is the first one logged after the fault, with Redis answering
  // (readyz ready) when the fault begins.
  const onRedis = async () => (await ready()).status === 'ready';
  const firstDownAfter = (at: number) => downs().find((l) => l.time >= at);

  // 1. Hung: Redis stops answering but keeps its connections (SIGSTOP).
  let traffic = load(gw.url, key, 4, 10_000);
  await until(() => traffic.samples.length >= 40, 'load on Redis');
  // Under load: the account's GCRA key lives only as long as its tat is ahead (a few ms
  // per request at this rate), and a tripped 50 ms bound sends a moment's decisions to
  // the insurance limiter; so the keys are looked for while requests keep coming.
  await until(async () => (await redisKeys(redis)) >= 2, 'decisions are in Redis');
  await until(onRedis, 'on Redis before the fault');
  const hungAt = Date.now();
  const hungAtPerf = performance.now();
  process.kill(redis.pid, 'SIGSTOP');
  await until(() => firstDownAfter(hungAt) !== undefined, 'the fallback after Redis hung');
  await until(
    () => traffic.samples.filter((s) => s.start > hungAtPerf + 200).length >= 20,
    'load after the fallback',
  );
  const fallbackMs = firstDownAfter(hungAt)!.time - hungAt;
  assert.deepEqual((await ready()).status, 'degraded');
  assert.equal(await metric(gw, 'sluice_limit_store_degraded'), 1);
  const upsBefore = ups().length;
  process.kill(redis.pid, 'SIGCONT');
  await until(() => ups().length > upsBefore, 'back on Redis after SIGCONT');
  await traffic.stop();
  const hungSamples = traffic.samples.filter((s) => s.end > hungAtPerf);
  const slowest = Math.max(...hungSamples.map((s) => s.end - s.start));
  t.diagnostic(
    `hung: fallback ${fallbackMs} ms after SIGSTOP; slowest request ${slowest.toFixed(1)} ms`,
  );
  assert.ok(fallbackMs <= TIMEOUT_MS + MARGIN_MS, `fallback after ${fallbackMs} ms`);
  assert.ok(slowest <= TIMEOUT_MS + MARGIN_MS, `a request took ${slowest} ms`);
  assert.deepEqual(traffic.errors, [], 'every request answered');
  assert.ok(
    traffic.samples.every((s) => s.status === 200),
    'every request answered by the upstream',
  );

  // 2. Killed (SIGKILL) mid-load, then started again on the same port.
  traffic = load(gw.url, key, 4, 10_000);
  await until(() => traffic.samples.length >= 40, 'load on Redis again');
  await until(onRedis, 'on Redis before the kill');
  const killedAt = Date.now();
  const killedAtPerf = performance.now();
  await redis.stop('SIGKILL');
  await until(() => firstDownAfter(killedAt) !== undefined, 'the fallback after Redis was killed');
  const killFallbackMs = firstDownAfter(killedAt)!.time - killedAt;
  await until(
    () => traffic.samples.filter((s) => s.start > killedAtPerf + 100).length >= 20,
    'load without Redis',
  );
  const fallbacks = await metric(gw, 'sluice_limit_store_fallbacks_total');
  assert.ok(fallbacks >= 20, `fallbacks counted: ${fallbacks}`);
  const upsBeforeRestart = ups().length;
  redis = await startRedis({ port });
  await until(() => ups().length > upsBeforeRestart, 'back on the restarted Redis');
  const afterRestart = traffic.samples.length;
  await until(() => traffic.samples.length >= afterRestart + 20, 'load on the restarted Redis');
  await until(async () => (await redisKeys(redis)) >= 2, 'decisions are in the restarted Redis');
  await traffic.stop();
  await until(onRedis, 'readyz ready again');
  assert.equal(await metric(gw, 'sluice_limit_store_degraded'), 0);
  const killSamples = traffic.samples.filter((s) => s.end > killedAtPerf);
  const slowestKill = Math.max(...killSamples.map((s) => s.end - s.start));
  t.diagnostic(
    `killed: fallback ${killFallbackMs} ms after SIGKILL; slowest request ${slowestKill.toFixed(1)} ms; ${fallbacks} fallback decisions`,
  );
  assert.ok(killFallbackMs <= TIMEOUT_MS + MARGIN_MS, `fallback after ${killFallbackMs} ms`);
  assert.ok(slowestKill <= TIMEOUT_MS + MARGIN_MS, `a request took ${slowestKill} ms`);
  assert.deepEqual(traffic.errors, [], 'every request answered');
  assert.ok(traffic.samples.every((s) => s.status === 200));
  // One line per change, not per request: downs and ups alternate, a handful against
  // hundreds of decisions taken without Redis.
  const changes = gw.logs.filter(
    (l) => l.event === 'limit-store-down' || l.event === 'limit-store-up',
  );
  changes.forEach((l, i) => {
    assert.equal(l.event, i % 2 === 0 ? 'limit-store-down' : 'limit-store-up', `change ${i}`);
  });
  assert.ok(changes.length <= 10, `${changes.length} log lines for ${fallbacks} fallbacks`);
});

test('onFailure closed: without Redis, limited requests are answered 503 limits-unavailable, and /readyz is 503 degraded', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const records = new MemoryRecordStore();
  const key = addKey(records, 'acme');
  const gw = await gateway(records, `{redis: "${redis.url}", onFailure: closed}`);
  t.after(() => gw.close());
  assert.equal((await call(`${gw.url}/api/whoami`, { headers: bearer(key) })).status, 200);
  await redis.stop('SIGKILL');
  await until(() => gw.logs.some((l) => l.event === 'limit-store-down'), 'the fault noticed');
  const refused = await call(`${gw.url}/api/whoami`, { headers: bearer(key) });
  assert.equal(refused.status, 503);
  assert.equal(refused.headers['content-type'], 'application/problem+json');
  assert.equal(refused.headers['retry-after'], '1');
  const body = refused.json();
  assert.equal(body.code, 'SLUICE_ERR_LIMITS_UNAVAILABLE');
  assert.match(String(body.type), /limits-unavailable$/);
  const readyz = await call(`${gw.url}/readyz`);
  assert.equal(readyz.status, 503);
  assert.deepEqual(readyz.json(), { status: 'degraded', limits: 'unavailable' });
});
