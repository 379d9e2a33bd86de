/**
 * Three real gateway processes (`sluice serve`, each with its own --data) on one real
 * redis-server, in front of the demo upstream's slow route: one account's requests spread
 * over the nodes run at most the plan's `concurrency` at once (the upstream counts them);
 * a node killed (SIGKILL) mid-request frees its slots once its leases expire (store.lease).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type DemoUpstream, startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import {
  createKey,
  type GatewayProcess,
  startGateway,
  tempDir,
  writePolicy,
} from '../helpers/gateway-process.ts';
import { type Answer, bearer, call } from '../helpers/http.ts';
import { type RedisProcess, startRedis } from '../helpers/redis-server.ts';

const CONCURRENCY = 2;
const LEASE_MS = 2_000;
/** What this test allows past the lease time on a busy 2-core machine (renewal tick, poll, HTTP). */
const MARGIN_MS = 1_500;

let redis: RedisProcess;
let upstream: DemoUpstream;
let key: string;
const dirs: string[] = [];
let policy: string;
const nodes: GatewayProcess[] = [];

before(async () => {
  [redis, upstream] = await Promise.all([startRedis(), startDemoUpstream()]);
  policy = writePolicy(
    tempDir(),
    [
      'store:',
      `  redis: ${redis.url}`,
      `  prefix: "nodes${process.pid}:"`,
      // Shared slots are what is measured: at 50 ms a loaded machine's slow Redis call
      // hands decisions to the insurance (each node alone runs `concurrency`: 4 seen once).
      '  timeout: 1s',
      `  lease: ${LEASE_MS}ms`,
      'plans:',
      '  standard:',
      `    concurrency: ${CONCURRENCY}`,
      '    queue: 20',
      '    queueTimeout: 20s',
      '',
    ].join('\n'),
  );
  // One key, known to every node: the records live in the same Redis (each node keeps
  // its own data directory for its incident journal).
  for (let i = 0; i < 3; i++) dirs.push(tempDir());
  key = (await createKey(dirs[0]!, 'acme', ['--config', policy])).key;
  for (const dir of dirs) {
    nodes.push(await startGateway(['--config', policy, '--upstream', upstream.url, '--data', dir]));
  }
});
after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await upstream?.close();
  await redis?.stop();
});

const slow = (node: GatewayProcess, ms: number): Promise<Answer> =>
  call(`${node.url}/_test/slow?ms=${ms}`, { headers: bearer(key) });

test('one account’s requests spread over three nodes run at most `concurrency` at once', async (t) => {
  const started = performance.now();
  const answers = await Promise.all(
    Array.from({ length: 9 }, (_, i) => slow(nodes[i % nodes.length], 400)),
  );
  const elapsed = performance.now() - started;
  t.diagnostic(`9 requests of 400 ms over 3 nodes, concurrency 2: ${Math.round(elapsed)} ms`);
  assert.deepEqual(
    answers.map((a) => a.status),
    Array(9).fill(200),
    answers.map((a) => a.body).join('\n'),
  );
  const peak = Math.max(...answers.map((a) => Number(a.headers['x-slow-running'])));
  const fellBack = nodes
    .flatMap((n) => n.stdout().split('\n'))
    .filter((l) => /limit-store-down/.test(l));
  assert.equal(
    peak,
    CONCURRENCY,
    `the upstream saw at most \`concurrency\` at once, over all nodes; Redis left: ${fellBack.join('\n')}`,
  );
  // 9 requests of 400 ms, 2 at a time: 5 rounds.
  assert.ok(elapsed >= 4 * 400, `took ${Math.round(elapsed)} ms`);
});

test('a node killed mid-request frees its slots within the lease time', async (t) => {
  const [a, b] = nodes;
  // Node a holds both of the account's slots with long requests.
  const held = [slow(a, 8_000), slow(a, 8_000)].map((p) => p.catch((e: Error) => e));
  await new Promise((r) => setTimeout(r, 700));
  // A request on node b waits: the account is full, over all nodes.
  let answeredAt: number | undefined;
  const waiting = slow(b, 10).then((answer) => {
    answeredAt = performance.now();
    return answer;
  });
  await new Promise((r) => setTimeout(r, 800));
  assert.equal(answeredAt, undefined, 'node b’s request waits while node a holds the slots');
  const killedAt = performance.now();
  a.child.kill('SIGKILL');
  const answer = await waiting;
  assert.equal(answer.status, 200, answer.body);
  const after = answeredAt! - killedAt;
  t.diagnostic(
    `the waiting request ran ${Math.round(after)} ms after the kill (lease ${LEASE_MS} ms)`,
  );
  assert.ok(after <= LEASE_MS + MARGIN_MS, `answered ${Math.round(after)} ms after the kill`);
  for (const r of await Promise.all(held)) assert.ok(r instanceof Error, 'node a died');
  await a.stop();
});
