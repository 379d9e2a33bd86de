/**
 * The safeguards of two gateways on one real redis-server count together: a flood of
 * auth failures spread over both nodes trips `afterAuthFailure` at the same total as on
 * one node (not at twice it, as counting per node would), and the action is taken once:
 * one incident, one audit entry, over both nodes' record stores.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type App, buildApp } from '../../src/app.ts';
import { withServerOverrides } from '../../src/core/policy/override.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
import { type DemoUpstream, startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import { MemoryRecordStore } from '../../src/store/memory-record-store.ts';
import { bearer, call } from '../helpers/http.ts';
import { until } from '../helpers/in-process-gateway.ts';
import { type RedisProcess, startRedis } from '../helpers/redis-server.ts';

const THRESHOLD = 10;

let redis: RedisProcess;
let upstream: DemoUpstream;
const nodes: { app: App; url: string; records: MemoryRecordStore }[] = [];

before(async () => {
  [redis, upstream] = await Promise.all([startRedis(), startDemoUpstream()]);
  const policy = parsePolicyText(
    [
      `store: { redis: "${redis.url}", prefix: "sg${process.pid}:" }`,
      'server:',
      '  unauthenticated: refuse',
      'safeguards:',
      `  afterAuthFailure: { threshold: ${THRESHOLD}, window: 1m, action: block-ip, durations: [1h] }`,
      '',
    ].join('\n'),
    'nodes.yaml',
  );
  for (let i = 0; i < 2; i++) {
    const records = new MemoryRecordStore();
    const app = await buildApp({
      policy: withServerOverrides(policy, { listen: '127.0.0.1:0', upstream: upstream.url }),
      recordStore: records,
      logger: createLogger({ level: 'silent' }),
      incidentFlushMs: 20,
      keyPollMs: 50,
      shutdownGraceMs: 1_000,
    });
    const { url } = await app.listen();
    nodes.push({ app, url, records });
  }
});
after(async () => {
  for (const node of nodes) await node.app.close();
  await upstream?.close();
  await redis?.stop();
});

/** The safeguard incidents and audit entries over both nodes. */
function actions() {
  const incidents = nodes.flatMap((n) =>
    n.records.listIncidents().filter((i) => i.rule === 'safeguard-auth-failure'),
  );
  const audit = nodes.flatMap((n) => n.records.listAudit().filter((e) => e.actor === 'sluice'));
  return { incidents, audit };
}

test('auth failures spread over two nodes trip the safeguard at the one-node total, once', async () => {
  const fail = (i: number) =>
    call(`${nodes[i % 2].url}/api/devices`, { headers: bearer(`sk_0000000000_${'x'.repeat(32)}`) });
  for (let i = 0; i < THRESHOLD - 1; i++) assert.equal((await fail(i)).status, 401);
  // Each node saw fewer than half the threshold: nothing yet, over both.
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(actions().incidents, []);
  assert.equal((await fail(THRESHOLD - 1)).status, 401);
  await until(() => actions().incidents.length > 0, 'the safeguard acted', 5_000);
  // More failures on both nodes while the block runs: no second action.
  for (let i = 0; i < 6; i++) await fail(i);
  await new Promise((r) => setTimeout(r, 300));
  const { incidents, audit } = actions();
  assert.equal(incidents.length, 1, JSON.stringify(incidents));
  assert.equal(incidents[0].counters.observations, THRESHOLD);
  assert.equal(audit.length, 1, JSON.stringify(audit));
  assert.equal(audit[0].subject.ip, '127.0.0.1');
});
