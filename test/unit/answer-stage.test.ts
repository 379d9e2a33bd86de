/**
 * The answer stage's side effects around a refusal, each with the real part it feeds: the
 * refusal and warning metrics (prom-client), the log lines (pino), what the safeguards
 * are told, and the 500 and 503 answers on a real node:http response. The wire form of
 * every refusal is checked end to end in inprocess-wire-contract.test.ts.
 */
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { manualClock } from '../../src/core/clock.ts';
import type { IpWarning } from '../../src/core/decision.ts';
import type { Subject } from '../../src/core/records.ts';
import { refusal } from '../../src/core/refusal.ts';
import type { ObservationKind } from '../../src/core/safeguard/index.ts';
import { BAD_PATH_RULE } from '../../src/gateway/bad-path.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import { createMetrics } from '../../src/gateway/metrics.ts';
import { type AnswerDeps, createAnswer } from '../../src/gateway/stages/answer.ts';
import type { Exchange } from '../../src/gateway/stages/exchange.ts';
import type { Caller } from '../../src/gateway/stages/identify.ts';
import { MemoryRecordStore } from '../../src/store/memory-record-store.ts';
import { testIncidents } from './helpers/answer-parts.ts';

const T0 = Date.UTC(2026, 0, 5, 12);

function caller(subject: Subject): Caller {
  const ip = subject.ip ?? '192.0.2.1';
  return { ip, ipScope: ip, arrivedAt: T0, subject, account: undefined, plan: undefined };
}

/** The stage with real metrics, a pino logger writing into `lines` and a real recorder. */
function harness(t: { after(fn: () => Promise<void>): void }, withOnWarning = true) {
  const lines: Record<string, unknown>[] = [];
  const observed: [ObservationKind, Subject][] = [];
  const warned: [IpWarning, Subject][] = [];
  const metrics = createMetrics({ defaults: false });
  const store = new MemoryRecordStore();
  const incidents = testIncidents(t, store, manualClock(T0));
  const deps: AnswerDeps = {
    incidents,
    metrics,
    logger: createLogger({
      level: 'debug',
      destination: { write: (line: string) => lines.push(JSON.parse(line)) },
    }),
    observe: (kind, subject) => observed.push([kind, subject]),
    ...(withOnWarning ? { onWarning: (w: IpWarning, s: Subject) => warned.push([w, s]) } : {}),
  };
  const count = async (name: 'refused' | 'warnings', rule?: string) => {
    const { values } = await metrics[name].get();
    return values.find((v) => rule === undefined || v.labels.rule === rule)?.value ?? 0;
  };
  /** The incident recorded under `reference`, once saved. */
  const incident = async (reference: string) => {
    await incidents.flush();
    return store.getIncident(reference);
  };
  return { answer: createAnswer(deps), lines, observed, warned, count, metrics, incident };
}

/** A real response to write on: `handle` answers the one request made. */
async function onWire(
  t: { after(fn: () => void): void },
  handle: (res: ServerResponse) => void,
): Promise<{ status: number; headers: Headers; body: string } | Error> {
  const server = createServer((_req, res) => handle(res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  try {
    const answer = await fetch(`http://127.0.0.1:${port}/`);
    return { status: answer.status, headers: answer.headers, body: await answer.text() };
  } catch (error) {
    return error as Error;
  }
}

const WARNING: IpWarning = { ip: '192.0.2.1', count: 101, limit: 100, report: true };

test('the first IP warning of a window is counted, logged and handed on; later ones only signalled', async (t) => {
  const h = harness(t);
  const subject = { ip: '192.0.2.1', accountId: 'acme' };
  const first: Record<string, string> = {};
  h.answer.limitHeaders(caller(subject), [], WARNING, first);
  assert.deepEqual(first, { 'sluice-warning': '"ip";count=101;limit=100' });
  assert.equal(await h.count('warnings'), 1);
  assert.deepEqual(h.lines, [
    {
      level: 40,
      time: h.lines[0]?.time,
      name: 'sluice',
      event: 'ip-warning',
      ip: '192.0.2.1',
      count: 101,
      limit: 100,
      accountId: 'acme',
      msg: 'IP crossed the warning threshold',
    },
  ]);
  assert.deepEqual(h.warned, [[WARNING, subject]]);

  const later: Record<string, string> = {};
  h.answer.limitHeaders(caller(subject), [], { ...WARNING, count: 102, report: false }, later);
  assert.deepEqual(later, { 'sluice-warning': '"ip";count=102;limit=100' });
  assert.equal(await h.count('warnings'), 1, 'not counted again');
  assert.equal(h.lines.length, 1, 'not logged again');
  assert.equal(h.warned.length, 1, 'not handed on again');
});

test('a reported warning with nobody to hand it to is still counted', async (t) => {
  const h = harness(t, false);
  h.answer.limitHeaders(caller({ ip: '192.0.2.1' }), [], WARNING, {});
  assert.equal(await h.count('warnings'), 1);
});

test('a refusal is counted by rule and logged at debug with its reference', async (t) => {
  const h = harness(t);
  const subject = { ip: '192.0.2.9', keyId: 'k1', accountId: 'acme' };
  const answer = await onWire(t, (res) =>
    h.answer.refuse(
      res,
      caller(subject),
      refusal('key-revoked', 401, 0, { keyStatus: 'revoked', reason: 'r' }),
    ),
  );
  assert.ok(!(answer instanceof Error));
  const reference = (JSON.parse(answer.body) as { reference: string }).reference;
  assert.equal(await h.count('refused', 'key-revoked'), 1);
  assert.equal(await h.count('refused', 'ip-block'), 0);
  const logged = h.lines.find((l) => l.event === 'refused');
  assert.deepEqual(logged, {
    level: 20,
    time: logged?.time,
    name: 'sluice',
    event: 'refused',
    rule: 'key-revoked',
    reference,
    ip: '192.0.2.9',
    keyId: 'k1',
    accountId: 'acme',
    msg: 'request refused',
  });
});

test('the safeguards hear of 429s, key refusals and keyed non-public attempts only', async (t) => {
  const h = harness(t);
  const keyed = { ip: '192.0.2.3', keyId: 'k1', accountId: 'acme' };
  const keyless = { ip: '192.0.2.4' };
  const otherKey = { ip: '192.0.2.5', keyId: 'k2', accountId: 'acme' };
  const cases = [
    [keyed, refusal('ip-concurrency', 429, 1000, { ipHeld: 2, ipConcurrency: 2 })],
    [keyless, refusal('key-unknown', 401, 0, {})],
    [keyed, refusal('non-public', 403, 0, { route: 'admin', path: '/admin' })],
    [keyless, refusal('non-public', 403, 0, { route: 'admin', path: '/admin' })],
    [keyless, refusal('ip-blocked', 403, 0, { reason: 'r', blockedUntil: 'x' })],
    // Another key: were it told as a non-public attempt, it would not pass for the one above.
    [otherKey, refusal('ip-blocked', 403, 0, { reason: 'r', blockedUntil: 'x' })],
  ] as const;
  for (const [subject, r] of cases) {
    const answer = await onWire(t, (res) => h.answer.refuse(res, caller(subject), r));
    assert.ok(!(answer instanceof Error));
    assert.equal(answer.status, r.status);
  }
  assert.deepEqual(h.observed, [
    ['rejected-429', keyed],
    ['auth-failure', keyless],
    ['non-public-attempt', keyed],
  ]);
});

test('a bad target is counted under bad-path and told to the safeguards as malformed', async (t) => {
  const h = harness(t);
  const subject = { ip: '192.0.2.5' };
  const answer = await onWire(t, (res) =>
    h.answer.badPath(res, caller(subject), { reason: 'encoded-slash', message: 'no' }),
  );
  assert.ok(!(answer instanceof Error));
  assert.equal(answer.status, 400);
  assert.equal(await h.count('refused', BAD_PATH_RULE), 1);
  assert.deepEqual(h.observed, [['malformed-4xx', subject]]);
});

test('a request sluice failed on is a 500 problem; once its answer began, it is cut', async (t) => {
  const h = harness(t);
  const before = await onWire(t, (res) => h.answer.failed(res));
  assert.ok(!(before instanceof Error));
  assert.equal(before.status, 500);
  assert.equal(before.headers.get('content-type'), 'application/problem+json');
  assert.equal(
    (JSON.parse(before.body) as { type: string }).type,
    'tag:sluice,2026:problem:internal',
  );

  const after = await onWire(t, (res) => {
    res.writeHead(200, { 'content-length': '100' });
    res.write('partial');
    h.answer.failed(res);
  });
  assert.ok(after instanceof Error, 'the client sees the connection cut, not a short body');
});

test('a request waiting at shutdown gets 503 with Retry-After 5 and the connection closed', async (t) => {
  const h = harness(t);
  const answer = await onWire(t, (res) => h.answer.shuttingDown(res));
  assert.ok(!(answer instanceof Error));
  assert.equal(answer.status, 503);
  assert.equal(answer.headers.get('retry-after'), '5');
  assert.equal(answer.headers.get('connection'), 'close');
  assert.equal(answer.headers.get('content-type'), 'application/problem+json');
  assert.deepEqual(JSON.parse(answer.body), {
    type: 'tag:sluice,2026:problem:shutting-down',
    title: 'Service Unavailable',
    status: 503,
    detail: 'The gateway is shutting down; retry this request in a few seconds.',
  });
});

test('at shutdown, an answer already begun or a response already gone is left alone', async (t) => {
  const h = harness(t);
  const begun = await onWire(t, (res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    h.answer.shuttingDown(res); // a second head would throw here
    res.end('ok');
  });
  assert.ok(!(begun instanceof Error));
  assert.equal(begun.status, 200);
  assert.equal(begun.body, 'ok');

  let wrote: boolean | undefined;
  await onWire(t, (res) => {
    res.destroy();
    h.answer.shuttingDown(res);
    wrote = res.headersSent;
  });
  assert.equal(wrote, false, 'nothing written on a destroyed response');
});

test('refusals of different rules in turn are each counted under their own rule', async (t) => {
  const h = harness(t);
  const who = caller({ ip: '192.0.2.9', keyId: 'k1', accountId: 'acme' });
  const facts = { keyStatus: 'revoked', reason: 'r' } as const;
  const made = {
    revoked: () => refusal('key-revoked', 403, 0, facts),
    suspended: () => refusal('key-suspended', 403, 0, { ...facts, keyStatus: 'suspended' }),
    blocked: () => refusal('ip-blocked', 403, 0, { reason: 'r', blockedUntil: 'until lifted' }),
  };
  for (const which of ['revoked', 'suspended', 'revoked', 'blocked', 'revoked'] as const) {
    const answer = await onWire(t, (res) => h.answer.refuse(res, who, made[which]()));
    assert.ok(!(answer instanceof Error));
  }
  assert.equal(await h.count('refused', 'key-revoked'), 3);
  assert.equal(await h.count('refused', 'key-suspended'), 1);
  assert.equal(await h.count('refused', 'ip-blocked'), 1);
});

test('limits unavailable: a 503 problem+json that says retry in a second, counted; nothing once the answer has begun', async (t) => {
  const h = harness(t);
  const got = await onWire(t, (res) => h.answer.limitsUnavailable(res));
  assert.ok(!(got instanceof Error));
  assert.equal(got.status, 503);
  assert.equal(got.headers.get('retry-after'), '1');
  assert.equal(got.headers.get('cache-control'), 'no-store');
  assert.deepEqual(JSON.parse(got.body), {
    type: 'tag:sluice,2026:problem:limits-unavailable',
    title: 'Service Unavailable',
    status: 503,
    detail: 'The gateway cannot check its limits right now; retry this request in a second.',
    code: 'SLUICE_ERR_LIMITS_UNAVAILABLE',
  });
  assert.equal(await h.count('refused', 'limits-unavailable'), 1);
  // An answer already begun (headers sent) is left as it is, and not counted again.
  const begun = await onWire(t, (res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    h.answer.limitsUnavailable(res);
    res.end('ok');
  });
  assert.ok(!(begun instanceof Error));
  assert.equal(begun.status, 200);
  assert.equal(begun.body, 'ok');
  assert.equal(await h.count('refused', 'limits-unavailable'), 1);
});

const FACTS = {
  account: 'acme',
  plan: 'standard',
  size: 0,
  rate: 10,
  periodSec: 1,
  burst: 20,
  cost: 1,
  maxDelayMs: 2_000,
};

/** An exchange in shadow mode as admit hands it to the answer stage: its caller and headers. */
function shadowExchange(subject: Subject): Exchange {
  return { caller: caller(subject), headers: {}, shadow: true } as unknown as Exchange;
}

test('shadow mode: a would-be refusal is recorded, counted, logged and said in Sluice-Shadow; nothing is answered', async (t) => {
  const h = harness(t);
  const subject = { ip: '192.0.2.5', keyId: 'k1', accountId: 'acme' };
  const ex = shadowExchange(subject);
  h.answer.shadowRefuse(ex, refusal('account-rate', 429, 2_000, FACTS));
  const header = ex.headers['sluice-shadow'];
  const reference = /^refuse; rule=account-rate; reference=(RL-[0-9A-Z-]+)$/.exec(
    header ?? '',
  )?.[1];
  assert.ok(reference, header);
  const saved = await h.incident(reference);
  assert.equal(saved?.rule, 'account-rate');
  assert.deepEqual(saved?.counters, { ...FACTS, dryRun: 'yes', would: 'refuse' });
  const { values } = await h.metrics.shadow.get();
  assert.deepEqual(
    values.map((v) => [v.labels, v.value]),
    [[{ rule: 'account-rate', would: 'refuse' }, 1]],
  );
  const logged = h.lines.find((l) => l.event === 'shadow');
  assert.deepEqual(logged, {
    level: 20,
    time: logged?.time,
    name: 'sluice',
    event: 'shadow',
    would: 'refuse',
    rule: 'account-rate',
    reference,
    ip: '192.0.2.5',
    keyId: 'k1',
    accountId: 'acme',
    msg: 'shadow mode: a limit would have acted',
  });
  assert.equal(await h.count('refused'), 0, 'nothing was refused');
});

test('shadow mode: a would-be delay says its whole milliseconds, rounded up, in the header, log and incident', async (t) => {
  const h = harness(t);
  const ex = shadowExchange({ ip: '192.0.2.6' });
  h.answer.shadowDelay(ex, 'account-rate', 1_234.2);
  h.answer.shadowQueue(ex);
  const header = ex.headers['sluice-shadow'] ?? '';
  const m = /^delay=1235; rule=account-rate; reference=(RL-[0-9A-Z-]+), queue$/.exec(header);
  assert.ok(m, header);
  assert.deepEqual((await h.incident(m[1]!))?.counters, {
    dryRun: 'yes',
    would: 'delay',
    delayMs: 1235,
  });
  const logged = h.lines.find((l) => l.event === 'shadow');
  assert.equal(logged?.delayMs, 1235);
  assert.equal(logged?.would, 'delay');
  const { values } = await h.metrics.shadow.get();
  assert.deepEqual(
    values.map((v) => [v.labels, v.value]),
    [[{ rule: 'account-rate', would: 'delay' }, 1]],
  );
});

test('shadow mode: the safeguards hear of would-be 429s and keyed non-public attempts, as they would', async (t) => {
  const h = harness(t);
  const keyed = { ip: '192.0.2.3', keyId: 'k1', accountId: 'acme' };
  const keyless = { ip: '192.0.2.4' };
  const otherKey = { ip: '192.0.2.5', keyId: 'k2', accountId: 'acme' };
  const cases = [
    [keyed, refusal('account-rate', 429, 1000, FACTS)],
    [keyless, refusal('ip-block', 429, 1000, { ipRequests: 3, ipBlock: 2, ipWarn: 1 })],
    [keyed, refusal('non-public', 403, 0, { route: 'admin', path: '/admin' })],
    [keyless, refusal('non-public', 403, 0, { route: 'admin', path: '/admin' })],
    // Any other keyed 403 is no non-public attempt.
    [otherKey, refusal('ip-blocked', 403, 0, { reason: 'r', blockedUntil: 'x' })],
  ] as const;
  for (const [subject, r] of cases) h.answer.shadowRefuse(shadowExchange(subject), r);
  assert.deepEqual(h.observed, [
    ['rejected-429', keyed],
    ['rejected-429', keyless],
    ['non-public-attempt', keyed],
  ]);
});
