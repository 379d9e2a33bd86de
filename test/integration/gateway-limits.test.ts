/**
 * The gateway's limits, end to end: a real `sluice serve` process in front of the real
 * demo upstream, both on loopback.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import { openSqliteRecordStore } from '../../src/store/sqlite-record-store.ts';
import {
  createKey,
  type GatewayProcess,
  sluice,
  startGateway,
  tempDir,
  writePolicy,
} from '../helpers/gateway-process.ts';
import { bearer, call, eventually } from '../helpers/http.ts';
import { startInProcessGateway, until } from '../helpers/in-process-gateway.ts';

const DETAIL =
  /^Your request was denied due to a usage violation\. You can track this request with support by referencing (RL-[0-9A-Z]{4}-[0-9A-Z]{4})\.$/;

let upstream: Awaited<ReturnType<typeof startDemoUpstream>>;
let gateway: GatewayProcess;
let dataDir: string;
let keyBurst: string;

before(async () => {
  upstream = await startDemoUpstream({});
  dataDir = tempDir();
  const policy = writePolicy(
    dataDir,
    `
server:
  upstream: ${upstream.url}
  trustedProxies: [127.0.0.1]   # so each test can speak for an IP of its own
ip:
  warn: 100/min
  block: 200/min
plans:
  standard: { base: 6000/min, perUnit: 0/min, min: 6000/min, max: 6000/min, burst: 100, maxDelay: 2s, maxSlowed: 50, concurrency: 1, queue: 1, queueTimeout: 10s }
  burst: { base: 600/min, perUnit: 0/min, min: 600/min, max: 600/min, burst: 3, maxDelay: 2s, maxSlowed: 50, concurrency: 10, queue: 10 }
`,
  );
  keyBurst = (await createKey(dataDir, 'acct-burst', ['--plan', 'burst'])).key;
  gateway = await startGateway(['--config', policy, '--data', dataDir]);
});

after(async () => {
  await gateway?.stop();
  await upstream?.close();
});

test('an IP is warned past 100/min and refused past 200/min with a reference support can look up', async () => {
  // In-process on a manual clock: every request of the loop falls in one minute, however
  // long the loop takes, and Retry-After can be pinned.
  const lines: string[] = [];
  const data = tempDir();
  const g = await startInProcessGateway({
    upstream: upstream.url,
    policy: 'ip:\n  warn: 100/min\n  block: 200/min\n',
    recordStore: openSqliteRecordStore(data),
    logger: createLogger({ destination: { write: (line: string) => void lines.push(line) } }),
  });
  try {
    let firstWarning = 0;
    let firstRefusal = 0;
    let refusal: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 1; i <= 205 && refusal === undefined; i++) {
      const answer = await g.call('/api/companies?limit=1');
      assert.ok(
        answer.headers['ratelimit-policy']?.includes('"ip";q=200;w=60'),
        'RateLimit-Policy on every limited response',
      );
      if (answer.headers['sluice-warning'] !== undefined && firstWarning === 0) firstWarning = i;
      if (answer.status === 429) {
        firstRefusal = i;
        refusal = answer;
      } else assert.equal(answer.status, 200, `request ${i}`);
    }
    assert.equal(firstWarning, 101, 'the warning starts at the 101st request of the minute');
    assert.equal(firstRefusal, 201, 'the 201st request in a minute is refused');
    assert.ok(refusal);
    assert.equal(refusal.headers['content-type'], 'application/problem+json');
    const body = refusal.json<{
      detail: string;
      reference: string;
      retryAfter: number;
      status: number;
    }>();
    const match = DETAIL.exec(body.detail);
    assert.ok(match, `detail is the promised sentence: ${body.detail}`);
    assert.equal(body.reference, match[1]);
    assert.equal(body.status, 429);
    // 200 in the minute from T0: one more fits at T0 + 120 s − 199 × 60 s / 200 = T0 + 60.3 s.
    assert.equal(body.retryAfter, 61);
    assert.equal(refusal.headers['retry-after'], '61');
    assert.equal(refusal.headers.ratelimit, '"ip";r=0;t=60');

    // A few more refusals join the same incident instead of writing rows of their own.
    for (let i = 0; i < 5; i++) assert.equal((await g.call('/api/companies')).status, 429);

    const looked = await eventually(async () => {
      const r = await sluice([
        'incident',
        body.reference.toLowerCase().replaceAll('-', ''),
        '--data',
        data,
        '--json',
      ]);
      if (r.code !== 0) return undefined;
      const incident = JSON.parse(r.stdout) as {
        count: number;
        rule: string;
        subject: { ip: string };
      };
      return incident.count >= 6 ? { incident, r } : undefined;
    });
    assert.equal(looked.incident.rule, 'ip-block');
    assert.equal(looked.incident.subject.ip, '127.0.0.1');
    assert.equal(looked.incident.count, 6);

    const text = await sluice(['incident', body.reference, '--data', data]);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /127\.0\.0\.1/);
    assert.match(text.stdout, /200/);
    // The warning is logged once per window, not once per request.
    assert.equal(lines.filter((l) => l.includes('IP crossed the warning threshold')).length, 1);
  } finally {
    await g.close();
  }
});

test('a burst is slowed, not refused: requests over the rate are held, then served', async () => {
  const started = performance.now();
  const answers = await Promise.all(
    Array.from({ length: 6 }, () =>
      call(`${gateway.url}/api/devices?limit=1`, {
        headers: { ...bearer(keyBurst), 'x-forwarded-for': '198.51.100.1' },
      }),
    ),
  );
  const elapsed = performance.now() - started;
  assert.deepEqual(
    answers.map((a) => a.status),
    [200, 200, 200, 200, 200, 200],
  );
  const delays = answers
    .map((a) => Number(a.headers['sluice-delay-ms'] ?? 0))
    .sort((x, y) => x - y);
  assert.deepEqual(delays.slice(0, 3), [0, 0, 0], 'the burst passes at once');
  // Each one over the burst is held longer than the one before (the exact values, on the
  // manual clock, are in inprocess-clock.test.ts: here the six arrive spread over however
  // long a loaded machine takes to send them, and each is held that much less).
  assert.ok(
    delays[3] > 0 && delays[4] > delays[3] && delays[5] > delays[4] && delays[5] <= 400,
    `held ${delays.join(',')}`,
  );
  assert.ok(elapsed >= delays[5], `the last one really waited (${elapsed} ms)`);
});

test("one account's full queue answers 429 at once while another account is served", async () => {
  // In-process, so the queue can be seen: a queued request arms its timeout on the clock.
  const g = await startInProcessGateway({
    upstream: upstream.url,
    policy: 'plans:\n  standard: { concurrency: 1, queue: 1, queueTimeout: 10s }\n',
  });
  try {
    const a = g.addKey('acct-a').key;
    const b = g.addKey('acct-b').key;
    const slowHits = async () =>
      (await call(`${upstream.url}/_test/hits`)).json<{ paths: Record<string, number> }>().paths[
        '/_test/slow'
      ] ?? 0;
    const before = await slowHits();
    const first = g.call('/_test/slow?ms=1500', { key: a });
    await until(async () => (await slowHits()) > before, 'the first request holds the slot');
    const second = g.call('/api/companies?limit=1', { key: a });
    await until(() => g.clock.pending() === 1, 'the second request is queued');
    const third = await g.call('/api/companies?limit=1', { key: a });
    assert.equal(third.status, 429, 'concurrency 1 + queue 1: the third request is refused');
    assert.ok(third.ms < 500, `refused at once (${third.ms} ms)`);
    assert.equal(third.json<{ rule: string }>().rule, 'account-queue');

    const other = await g.call('/api/companies?limit=1', { key: b });
    assert.equal(other.status, 200);
    assert.ok(other.ms < 500, `the other account is not delayed (${other.ms} ms)`);

    assert.equal((await first).status, 200);
    const queued = await second;
    assert.equal(queued.status, 200, 'the queued request is served when the slot frees');
    assert.ok(queued.ms >= 1000, `the queued one waited for the first (${queued.ms} ms)`);
    assert.equal(g.clock.pending(), 0, 'its queue timeout is cancelled');
  } finally {
    await g.close();
  }
});
