/**
 * `sluice serve --threads 2`, end to end: a real gateway process with two worker threads
 * in front of the real demo upstream. Each request goes over a new connection, so the
 * kernel spreads them over both threads (SO_REUSEPORT); SLUICE_DEBUG_THREADS=1 makes every
 * answer say which thread gave it (`sluice-thread`) and lets the admin API crash one.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { Agent, type IncomingHttpHeaders, request } from 'node:http';
import { after, before, test } from 'node:test';
import { keyIdOf } from '../../src/core/api-key.ts';
import { startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import {
  createKey,
  type GatewayProcess,
  sluice,
  startGateway,
  tempDir,
  writePolicy,
} from '../helpers/gateway-process.ts';
import { bearer, call } from '../helpers/http.ts';

const TOKEN = 'threads-test-admin-token-0123';
const BURST = 20;
const AUTH_FAILURES = 30;

/** ip limits far away; `flood`: 60/min with a burst of 20, never slowed (over it: 429). */
const policy = (ipBlock: number) => `
server:
  trustedProxies: [127.0.0.1] # so a test can speak for an IP of its own
safeguards:
  afterAuthFailure: { threshold: ${AUTH_FAILURES}, window: 10m, action: block-ip, durations: [1h] }
ip:
  warn: 10000/min
  block: ${ipBlock}/min
  concurrency: 64
plans:
  flood: { base: 60/min, perUnit: 0/min, min: 60/min, max: 60/min, burst: ${BURST}, maxDelay: 0s, maxSlowed: 0, concurrency: 50, queue: 0 }
  pair: { base: 6000/min, perUnit: 0/min, min: 6000/min, max: 6000/min, burst: 100, maxDelay: 0s, maxSlowed: 0, concurrency: 2, queue: 0 }
  one: { base: 6000/min, perUnit: 0/min, min: 6000/min, max: 6000/min, burst: 100, maxDelay: 0s, maxSlowed: 0, concurrency: 1, queue: 0 }
`;

let upstream: Awaited<ReturnType<typeof startDemoUpstream>>;
let gateway: GatewayProcess;
let dataDir: string;
let policyFile: string;
const keys: Record<string, string> = {};

before(async () => {
  upstream = await startDemoUpstream({});
  dataDir = tempDir();
  policyFile = writePolicy(tempDir(), policy(20000));
  for (const [account, plan] of [
    ['flooder', 'flood'],
    ['pair', 'pair'],
    ['holder', 'one'],
    ['revoked-cli', 'pair'],
    ['revoked-admin', 'pair'],
  ]) {
    keys[account] = (await createKey(dataDir, account, ['--plan', plan])).key;
  }
  gateway = await startGateway(
    [
      '--upstream',
      upstream.url,
      '--data',
      dataDir,
      '--config',
      policyFile,
      '--threads',
      '2',
      '--admin',
      '127.0.0.1:0',
    ],
    { env: { SLUICE_DEBUG_THREADS: '1', SLUICE_ADMIN_TOKEN: TOKEN } },
  );
});

after(async () => {
  await gateway?.stop();
  await upstream?.close();
});

interface Fresh {
  status: number;
  thread: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request on a connection of its own (so the kernel picks its thread), bounded. */
function fresh(path: string, headers: Record<string, string> = {}, agent?: Agent): Promise<Fresh> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${gateway.url}${path}`,
      { headers, agent: agent ?? false, timeout: 30_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            thread: res.headers['sluice-thread'] as string | undefined,
            headers: res.headers,
            body,
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer to ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

/** `count` requests, `parallel` at a time, each on its own connection. */
async function spread(count: number, parallel: number, make: () => Promise<Fresh>) {
  const answers: Fresh[] = [];
  for (let i = 0; i < count; i += parallel) {
    answers.push(
      ...(await Promise.all(Array.from({ length: Math.min(parallel, count - i) }, make))),
    );
  }
  return answers;
}

const threadsOf = (answers: readonly Fresh[]) => new Set(answers.map((a) => a.thread));

test('a flood spread over both threads is refused at the count one thread refuses it at', async () => {
  const started = Date.now();
  const answers = await spread(100, 10, () =>
    fresh('/api/companies/cmp-0001', bearer(keys.flooder)),
  );
  const seconds = (Date.now() - started) / 1000;
  assert.deepEqual(threadsOf(answers), new Set(['0', '1']), 'both threads answered');
  const allowed = answers.filter((a) => a.status === 200).length;
  const refused = answers.filter((a) => a.status === 429).length;
  assert.equal(allowed + refused, 100);
  // One thread lets the burst through, then 1/s: with one limit per thread it would be
  // about twice the burst. The tolerance is what the rate refills while the flood runs.
  assert.ok(allowed >= BURST, `allowed ${allowed}, at least the burst ${BURST}`);
  assert.ok(
    allowed <= BURST + Math.ceil(seconds) + 1,
    `allowed ${allowed} in ${seconds} s: at most the burst ${BURST} + 1/s`,
  );
});

test('an account concurrency of 2 holds across threads: 12 slow requests at once, 2 run', async () => {
  const answers = await spread(12, 12, () => fresh('/_test/slow?ms=1500', bearer(keys.pair)));
  assert.deepEqual(threadsOf(answers), new Set(['0', '1']), 'both threads answered');
  assert.equal(answers.filter((a) => a.status === 200).length, 2);
  const refused = answers.filter((a) => a.status === 429);
  assert.equal(refused.length, 10);
  for (const a of refused) assert.match(a.body, /account-queue/);
  // Given back when they end: the account runs again.
  assert.equal((await fresh('/api/companies/cmp-0001', bearer(keys.pair))).status, 200);
});

/** A client address of its own per request (through the trusted proxy): no IP gets blocked. */
const anyIp = () => ({
  'x-forwarded-for': `198.18.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`,
});

/** Requests on new connections until both threads answered `status`; ms taken. */
async function untilBothAnswer(key: string, status: number, timeoutMs: number): Promise<number> {
  const started = Date.now();
  const seen = new Set<string | undefined>();
  while (seen.size < 2) {
    if (Date.now() - started > timeoutMs) {
      throw new Error(`threads ${[...seen].join(', ')} answered ${status}, not both`);
    }
    const answers = await spread(4, 4, () =>
      fresh('/api/companies/cmp-0001', { ...bearer(key), ...anyIp() }),
    );
    for (const a of answers) if (a.status === status) seen.add(a.thread);
  }
  return Date.now() - started;
}

test('a key revoked by the CLI is refused by every thread within a second', async () => {
  const key = keys['revoked-cli'];
  await untilBothAnswer(key, 200, 10_000);
  const revoked = await sluice(['keys', 'revoke', keyIdOf(key) ?? '', '--data', dataDir]);
  assert.equal(revoked.code, 0, revoked.stderr);
  // Each thread polls the store's change sequence every second.
  const ms = await untilBothAnswer(key, 403, 5_000);
  assert.ok(ms <= 1_500, `both threads refused it after ${ms} ms`);
});

test('a key revoked through the admin API is refused by every thread at once', async () => {
  const key = keys['revoked-admin'];
  await untilBothAnswer(key, 200, 10_000);
  const id = keyIdOf(key) ?? '';
  const answer = await call(`${gateway.adminUrl}/admin/keys/${id}/revoke`, {
    method: 'POST',
    headers: bearer(TOKEN),
  });
  assert.equal(answer.status, 200, answer.body);
  // Main tells every thread as it answers: no request after it passes on any thread.
  const after = await spread(12, 4, () =>
    fresh('/api/companies/cmp-0001', { ...bearer(key), ...anyIp() }),
  );
  assert.deepEqual(threadsOf(after), new Set(['0', '1']));
  for (const a of after) assert.equal(a.status, 403, `thread ${a.thread}`);
});

test('the safeguards count what every thread sees: an IP past the auth failures is blocked by both', async () => {
  // A revoked key, from one address: about half the failures land on each thread, so
  // per-thread counting would never reach the threshold.
  const from = { 'x-forwarded-for': '198.51.100.77' };
  const failures = await spread(AUTH_FAILURES, 6, () =>
    fresh('/api/companies/cmp-0001', { ...bearer(keys['revoked-admin']), ...from }),
  );
  assert.deepEqual(threadsOf(failures), new Set(['0', '1']));
  const started = Date.now();
  for (;;) {
    const answers = await spread(8, 8, () => fresh('/api/companies/cmp-0001', from));
    if (answers.every((a) => a.status === 403 && /ip-blocked/.test(a.body))) {
      assert.equal(threadsOf(answers).size, 2);
      break;
    }
    assert.ok(Date.now() - started < 3_000, 'the IP is blocked by every thread within 3 s');
    await new Promise((r) => setTimeout(r, 100));
  }
});

test('SIGHUP reloads the policy in every thread', async () => {
  const before = await spread(8, 8, () => fresh('/api/companies/cmp-0001'));
  for (const a of before) {
    const header = a.headers['ratelimit-policy'] as string | undefined;
    assert.match(header ?? `${a.status} ${a.body}`, /"ip";q=20000;/);
  }
  writeFileSync(policyFile, policy(15000));
  gateway.child.kill('SIGHUP');
  const started = Date.now();
  for (;;) {
    const answers = await spread(8, 8, () => fresh('/api/companies/cmp-0001'));
    const reloaded = answers.filter((a) =>
      /"ip";q=15000;/.test(a.headers['ratelimit-policy'] as string),
    );
    if (reloaded.length === answers.length && threadsOf(answers).size === 2) break;
    assert.ok(Date.now() - started < 5_000, 'every thread has the new policy within 5 s');
    await new Promise((r) => setTimeout(r, 100));
  }
});

test('a crashed thread is replaced, the other keeps its connections, a dead thread’s slots are given back', async () => {
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const first = await fresh('/api/companies/cmp-0001', {}, keepAlive);
    const kept = first.thread ?? '';
    const other = kept === '0' ? '1' : '0';
    // The holder's one slot, held by a slow request on one of the threads.
    const slow = fresh('/_test/slow?ms=30000', bearer(keys.holder)).catch((error: Error) => error);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await fresh('/api/companies/cmp-0001', bearer(keys.holder))).status, 429);

    const crash = async (lane: string) => {
      const answer = await call(`${gateway.adminUrl}/debug/threads/${lane}/crash`, {
        method: 'POST',
        headers: bearer(TOKEN),
      });
      assert.equal(answer.status, 200, answer.body);
    };
    await crash(other);
    await untilReplaced(other);
    // The kept thread's keep-alive connection was not touched.
    const again = await fresh('/api/companies/cmp-0001', {}, keepAlive);
    assert.equal(again.status, 200);
    assert.equal(again.thread, kept);
    assert.equal(keepAlive.freeSockets[Object.keys(keepAlive.freeSockets)[0]]?.length, 1);

    // Now the other: the slow request was on one of the two, and its slot must come back.
    await crash(kept);
    await untilReplaced(kept);
    assert.ok((await slow) instanceof Error, 'the crashed thread’s connection was cut');
    assert.equal((await fresh('/api/companies/cmp-0001', bearer(keys.holder))).status, 200);
    assert.match(gateway.stdout(), /"event":"thread-died".*"slotsReleased":[1-9]/);
  } finally {
    keepAlive.destroy();
  }
});

/** Waits until `lane` answers again (a new thread on its lane), at most 15 s. */
async function untilReplaced(lane: string): Promise<void> {
  const started = Date.now();
  await new Promise((r) => setTimeout(r, 200));
  for (;;) {
    const answers = await spread(4, 4, () =>
      fresh('/api/companies/cmp-0001').catch(() => ({ thread: undefined }) as Fresh),
    );
    if (answers.some((a) => a.thread === lane && a.status === 200)) return;
    assert.ok(Date.now() - started < 15_000, `thread ${lane} is back within 15 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('SIGTERM stops every thread and the process cleanly', async () => {
  const code = await gateway.stop();
  assert.equal(code, 0);
  const stopping = gateway.stdout().indexOf('"event":"stopping"');
  assert.ok(stopping > 0);
  assert.doesNotMatch(gateway.stdout().slice(stopping), /thread-died|thread-error/);
});

test('--threads takes a whole number or auto, and says so otherwise', async () => {
  for (const bad of ['0', 'many', '2.5', '999']) {
    const result = await sluice(['serve', '--threads', bad, '--upstream', 'http://127.0.0.1:9']);
    assert.equal(result.code, 2, bad);
    assert.match(
      result.stderr,
      /--threads: .* is not a thread count: write a whole number from 1 to 256, or auto/,
    );
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  }
});
