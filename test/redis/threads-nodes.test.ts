/**
 * A node with worker threads on Redis is one gateway with the other nodes: two real
 * gateway processes (`sluice serve`) on one real redis-server, one of them `--threads 2`.
 * An account's concurrency cap holds over both nodes and both threads (each thread takes
 * its leases in Redis), and auth failures spread over the threads and the other node
 * trip the safeguard at the one-node total (main's safeguard counts are in Redis).
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { type DemoUpstream, startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import {
  createKey,
  type GatewayProcess,
  startGateway,
  tempDir,
  writePolicy,
} from '../helpers/gateway-process.ts';
import { bearer } from '../helpers/http.ts';
import { type RedisProcess, startRedis } from '../helpers/redis-server.ts';

const CONCURRENCY = 2;
const THRESHOLD = 12;

let redis: RedisProcess;
let upstream: DemoUpstream;
let key: string;
/** [the node with two threads, the node with one] */
const nodes: GatewayProcess[] = [];

before(async () => {
  [redis, upstream] = await Promise.all([startRedis(), startDemoUpstream()]);
  const policy = writePolicy(
    tempDir(),
    [
      'store:',
      `  redis: ${redis.url}`,
      `  prefix: "thr${process.pid}:"`,
      '  timeout: 1s',
      'server:',
      '  trustedProxies: [127.0.0.1]',
      '  unauthenticated: refuse',
      'safeguards:',
      `  afterAuthFailure: { threshold: ${THRESHOLD}, window: 10m, action: block-ip, durations: [1h] }`,
      'plans:',
      '  standard:',
      `    concurrency: ${CONCURRENCY}`,
      '    queue: 0',
      '',
    ].join('\n'),
  );
  const dirs = [tempDir(), tempDir()];
  key = (await createKey(dirs[0]!, 'acme', ['--config', policy])).key;
  const common = ['--config', policy, '--upstream', upstream.url];
  const env = { env: { SLUICE_DEBUG_THREADS: '1' } };
  nodes.push(await startGateway([...common, '--data', dirs[0]!, '--threads', '2'], env));
  nodes.push(await startGateway([...common, '--data', dirs[1]!], env));
});
after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await upstream?.close();
  await redis?.stop();
});

interface Fresh {
  status: number;
  thread: string | undefined;
  body: string;
}

/** One request on a connection of its own (so the kernel picks the thread), bounded. */
function fresh(
  node: GatewayProcess,
  path: string,
  headers: Record<string, string>,
): Promise<Fresh> {
  return new Promise((resolve, reject) => {
    const req = request(`${node.url}${path}`, { headers, agent: false, timeout: 30_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          thread: res.headers['sluice-thread'] as string | undefined,
          body,
        }),
      );
    });
    req.on('timeout', () => req.destroy(new Error(`no answer to ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

test('an account’s concurrency holds over a node with two threads and another node', async () => {
  // 8 slow requests on the threaded node, 4 on the other, all at once; queue 0: one
  // past the cap is refused at once.
  const answers = await Promise.all(
    Array.from({ length: 12 }, (_, i) =>
      fresh(nodes[i % 3 === 2 ? 1 : 0]!, '/_test/slow?ms=1500', bearer(key)),
    ),
  );
  const threaded = answers.filter((_, i) => i % 3 !== 2);
  assert.deepEqual(
    new Set(threaded.map((a) => a.thread)),
    new Set(['0', '1']),
    'both threads answered',
  );
  const ran = answers.filter((a) => a.status === 200);
  assert.equal(
    ran.length,
    CONCURRENCY,
    answers.map((a) => `${a.status} ${a.thread ?? '-'} ${a.body.slice(0, 80)}`).join('\n'),
  );
  for (const a of answers.filter((x) => x.status !== 200)) {
    assert.equal(a.status, 429);
    assert.match(a.body, /account-queue/);
  }
  // Given back when they end, in Redis: the account runs again on either node.
  for (const node of nodes) {
    assert.equal((await fresh(node, '/api/companies/cmp-0001', bearer(key))).status, 200);
  }
});

test('auth failures over both threads and the other node trip the safeguard at the one-node total', async () => {
  const ip = { 'x-forwarded-for': '198.51.100.77' };
  const bad = { ...bearer(`sk_0000000000_${'x'.repeat(32)}`), ...ip };
  // Two thirds on the threaded node (over both threads), a third on the other: no node
  // alone reaches the threshold.
  const failures: Fresh[] = [];
  for (let i = 0; i < THRESHOLD; i++) {
    failures.push(await fresh(nodes[i % 3 === 2 ? 1 : 0]!, '/api/devices', bad));
  }
  assert.deepEqual(
    failures.map((f) => f.status),
    Array(THRESHOLD).fill(401),
  );
  assert.deepEqual(
    new Set(failures.filter((_, i) => i % 3 !== 2).map((f) => f.thread)),
    new Set(['0', '1']),
    'both threads saw failures',
  );
  // The IP is blocked on every node within a second or so (observations reach main in
  // 20 ms; the block reaches the other node by pub/sub).
  const deadline = Date.now() + 5_000;
  const blockedOn = new Set<number>();
  while (blockedOn.size < nodes.length && Date.now() < deadline) {
    for (const [i, node] of nodes.entries()) {
      const answer = await fresh(node, '/api/companies/cmp-0001', { ...bearer(key), ...ip });
      if (answer.status === 403 && /blocked/.test(answer.body)) blockedOn.add(i);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual([...blockedOn].sort(), [0, 1], 'the IP is blocked on both nodes');
});
