/**
 * The hold stage through the real gateway (in-process, manual clock, real demo upstream):
 * what a slowed or queued request gives back when its client goes away (its timer, its
 * place among the slowed, its place in the queue), exactly once; what the metrics say
 * of it; and the 503 every waiting request gets when the gateway stops.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type DemoUpstream, startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { bearer, call } from '../helpers/http.ts';
import {
  type InProcessGateway,
  startInProcessGateway,
  until,
} from '../helpers/in-process-gateway.ts';
import { rawRequest } from '../helpers/raw-http.ts';

const TOKEN = 'admin-token-for-hold-tests-0123456789';

let upstream: DemoUpstream;
before(async () => {
  upstream = await startDemoUpstream({});
});
after(() => upstream?.close());

async function start(t: { after(fn: () => unknown): void }, policy: string) {
  await call(`${upstream.url}/_test/hits/reset`, { method: 'POST' });
  const g = await startInProcessGateway({ upstream: upstream.url, policy, adminToken: TOKEN });
  t.after(() => g.close());
  return g;
}

const hits = async (path: string) =>
  (await call(`${upstream.url}/_test/hits`)).json<{ paths: Record<string, number> }>().paths[
    path
  ] ?? 0;

/** The value of one sample of /metrics (0 when absent). */
async function metric(g: InProcessGateway, sample: string): Promise<number> {
  const text = (await call(`${g.adminUrl}/metrics`, { headers: bearer(TOKEN) })).body;
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}

/** A request sent now whose client can go away; `gone` resolves once it has. */
function abortable(g: InProcessGateway, path: string, key: string) {
  const client = new AbortController();
  const answer = g.call(path, { key, signal: client.signal });
  return {
    answer,
    async gone() {
      client.abort();
      await answer.catch(() => undefined);
    },
  };
}

/** One request a second, one at once, held up to 10 s; one slowed at a time. */
const ONE_SLOWED = `plans:
  standard: { base: 60/min, perUnit: 0/min, min: 60/min, max: 60/min, burst: 1, maxDelay: 10s, maxSlowed: 1 }
`;

const OK = '/_test/status/200';

test('a slowed request whose client goes away gives back its timer and its place among the slowed', async (t) => {
  const g = await start(t, ONE_SLOWED);
  const { key } = g.addKey('acme');
  assert.equal((await g.call(OK, { key })).status, 200);
  const slowed = abortable(g, '/_test/status/201', key);
  await until(() => g.clock.pending() === 1, 'the second request is slowed');
  assert.equal(await metric(g, 'sluice_waiting_requests'), 1);
  const full = await g.call(OK, { key });
  assert.equal(full.status, 429);
  assert.equal(full.json().rule, 'account-slowed');

  await slowed.gone();
  await until(() => g.clock.pending() === 0, 'its hold is taken off the clock');
  assert.equal(await metric(g, 'sluice_waiting_requests'), 0);
  // Its place among the slowed is free: the next one is slowed, not refused.
  const next = g.call('/_test/status/202', { key });
  await until(() => g.clock.pending() === 1, 'the next request is slowed');
  g.clock.advance(2_000);
  const answer = await next;
  assert.equal(answer.status, 202);
  assert.equal(answer.headers['sluice-delay-ms'], '2000');
  assert.equal(await hits('/_test/status/201'), 0, 'the one gone never reached the upstream');
  assert.equal(await metric(g, 'sluice_delayed_total'), 2);
  assert.equal(await metric(g, 'sluice_delay_seconds_sum'), 3);
  assert.equal(await metric(g, 'sluice_delay_seconds_bucket{le="1"}'), 1);
});

test('a slowed request leaves the slowed once: its client going away after it was forwarded changes nothing', async (t) => {
  const g = await start(t, ONE_SLOWED);
  const { key } = g.addKey('acme');
  assert.equal((await g.call(OK, { key })).status, 200);
  // Slowed, then forwarded to an upstream that holds it.
  const first = abortable(g, '/_test/slow?ms=60000', key);
  await until(() => g.clock.pending() === 1, 'the second request is slowed');
  g.clock.advance(1_000);
  await until(async () => (await hits('/_test/slow')) === 1, 'it reached the upstream');
  // Another is slowed now: the one place among the slowed is its.
  const second = g.call('/_test/status/202', { key });
  await until(() => g.clock.pending() === 1, 'the third request is slowed');
  assert.equal(await metric(g, 'sluice_waiting_requests'), 1, 'the first one waits no more');
  await first.gone();
  const refused = await g.call(OK, { key });
  assert.equal(refused.status, 429);
  assert.equal(refused.json().rule, 'account-slowed', 'still one slowed');
  g.clock.advance(1_000);
  assert.equal((await second).status, 202);
});

test('a queued request whose client goes away gives back its place and its timer', async (t) => {
  const g = await start(t, 'plans:\n  standard: { concurrency: 1, queue: 1, queueTimeout: 5s }\n');
  const { key } = g.addKey('acme');
  const holder = abortable(g, '/_test/slow?ms=60000', key);
  await until(async () => (await hits('/_test/slow')) === 1, 'the slot is taken');
  const queued = abortable(g, '/_test/status/201', key);
  await until(() => g.clock.pending() === 1, 'the queue timeout is armed');
  assert.equal(await metric(g, 'sluice_waiting_requests'), 1);
  await queued.gone();
  await until(() => g.clock.pending() === 0, 'its timeout is taken off the clock');
  assert.equal(await metric(g, 'sluice_waiting_requests'), 0);
  // Its place is free: the next one queues (not 429 account-queue) and starts when the
  // slot is given back.
  const next = g.call('/_test/status/202', { key });
  await until(() => g.clock.pending() === 1, 'the next one is queued');
  await holder.gone();
  const answer = await next;
  assert.equal(answer.status, 202);
  assert.equal(g.clock.pending(), 0, 'its timeout cleared when it started');
  assert.equal(await metric(g, 'sluice_waiting_requests'), 0, 'it waits no more');
  assert.equal(await hits('/_test/status/201'), 0);
  // Started before its timeout: the timeout's moment passes without a second answer.
  g.clock.advance(5_000);
  assert.equal((await g.call(OK, { key })).status, 200);
});

test('stopping the gateway answers 503 to every slowed and queued request, and forwards none', async (t) => {
  const g = await start(
    t,
    `plans:
  standard: { base: 60/min, perUnit: 0/min, min: 60/min, max: 60/min, burst: 1, maxDelay: 10s, concurrency: 1, queue: 5 }
  enterprise: { concurrency: 1, queue: 5 }
`,
  );
  const { key } = g.addKey('acme');
  const other = g.addKey('globex', { plan: 'enterprise' });
  assert.equal((await g.call(OK, { key })).status, 200);
  const slowed = [rawRequest(g.url, 'GET', '/_test/status/201', bearer(key))];
  await until(() => g.clock.pending() === 1, 'one slowed');
  const holder = abortable(g, '/_test/slow?ms=60000', other.key);
  await until(async () => (await hits('/_test/slow')) === 1, 'the slot is taken');
  const queued = [1, 2].map(() => rawRequest(g.url, 'GET', '/_test/status/202', bearer(other.key)));
  await until(() => g.clock.pending() === 3, 'two queued');
  assert.equal(await metric(g, 'sluice_waiting_requests'), 3);
  const closing = g.close();
  for (const answer of await Promise.all([...slowed, ...queued])) {
    assert.equal(answer.head.split('\r\n')[0], 'HTTP/1.1 503 Service Unavailable');
    assert.equal(JSON.parse(answer.body).type, 'tag:sluice,2026:problem:shutting-down');
  }
  await holder.gone();
  await closing;
  assert.equal(await hits('/_test/status/201'), 0);
  assert.equal(await hits('/_test/status/202'), 0);
});

test('shadow mode: a request that would queue goes on at once, and gives its place back', async (t) => {
  const g = await start(t, 'mode: shadow\nplans:\n  standard: { concurrency: 1, queue: 1 }\n');
  const { key } = g.addKey('acme');
  const holder = abortable(g, '/_test/slow?ms=60000', key);
  await until(async () => (await hits('/_test/slow')) === 1, 'the slot is taken');
  // Each would have waited for the slot (the one place in the queue given back each
  // time): forwarded at once, no queue timeout armed.
  for (const status of [201, 202]) {
    const answer = await g.call(`/_test/status/${status}`, { key });
    assert.equal(answer.status, status);
    assert.equal(answer.headers['sluice-shadow'], 'queue');
  }
  assert.equal(g.clock.pending(), 0);
  assert.equal(await metric(g, 'sluice_waiting_requests'), 0);
  await holder.gone();
});

test('shadow mode: past a full queue the refusal is recorded with its counts, and the request goes on', async (t) => {
  const g = await start(t, 'mode: shadow\nplans:\n  standard: { concurrency: 1, queue: 0 }\n');
  const { key } = g.addKey('acme');
  const holder = abortable(g, '/_test/slow?ms=60000', key);
  await until(async () => (await hits('/_test/slow')) === 1, 'the slot is taken');
  const answer = await g.call('/_test/status/201', { key });
  assert.equal(answer.status, 201);
  const said = /^refuse; rule=account-queue; reference=(RL-[0-9A-Z-]+)$/.exec(
    answer.headers['sluice-shadow'] ?? '',
  );
  assert.ok(said, `Sluice-Shadow: ${answer.headers['sluice-shadow']}`);
  await until(() => g.records.getIncident(said[1]) !== undefined, 'the incident is saved');
  const { rule, counters } = g.records.getIncident(said[1])!;
  assert.equal(rule, 'account-queue');
  assert.deepEqual(
    [counters.inflight, counters.queued, counters.concurrency, counters.queue, counters.dryRun],
    [1, 0, 1, 0, 'yes'],
  );
  assert.equal(
    await metric(g, 'sluice_shadow_decisions_total{rule="account-queue",would="refuse"}'),
    1,
  );
  // It held no slot: once the holder is gone, the next one runs, with nothing to say.
  await holder.gone();
  await until(
    async () => (await g.call(OK, { key })).headers['sluice-shadow'] === undefined,
    'the slot is free',
  );
});

test('the queue full and the queue timeout: 429s whose incidents record the counts they were refused on', async (t) => {
  const g = await start(t, 'plans:\n  standard: { concurrency: 1, queue: 1, queueTimeout: 5s }\n');
  const { key } = g.addKey('acme');
  const holder = abortable(g, '/_test/slow?ms=60000', key);
  await until(async () => (await hits('/_test/slow')) === 1, 'the slot is taken');
  const queued = g.call('/_test/status/201', { key });
  await until(() => g.clock.pending() === 1, 'one queued');
  const full = await g.call('/_test/status/202', { key });
  assert.equal(full.status, 429);
  assert.equal(full.json().rule, 'account-queue');
  g.clock.advance(5_000);
  const timedOut = await queued;
  assert.equal(timedOut.status, 429);
  assert.equal(timedOut.json().rule, 'account-queue-timeout');
  assert.equal(await metric(g, 'sluice_waiting_requests'), 0, 'the timed-out one waits no more');
  const counts = async (reference: string) => {
    await until(() => g.records.getIncident(reference) !== undefined, `${reference} is saved`);
    const { counters } = g.records.getIncident(reference)!;
    return [counters.inflight, counters.queued, counters.concurrency, counters.queue];
  };
  assert.deepEqual(await counts(String(full.json().reference)), [1, 1, 1, 1]);
  // Counted when it was queued (itself the one waiting).
  assert.deepEqual(await counts(String(timedOut.json().reference)), [1, 1, 1, 1]);
  await holder.gone();
});
