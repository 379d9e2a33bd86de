/**
 * The admit stage with its real parts (the engine over a memory limit store, the answer
 * stage, a manual clock) on real node:http requests: which slot table a request takes
 * and when it gives it back, the refusals it decides with their incident facts, upgrades,
 * the route it matches, the interactive cookie, and what it does when a store fails.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { manualClock } from '../../src/core/clock.ts';
import { createEngine } from '../../src/core/engine.ts';
import { SluiceError } from '../../src/core/errors.ts';
import type { LimitStore } from '../../src/core/limiter/types.ts';
import { whenReady } from '../../src/core/maybe-async.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
import type { BulkExportVerdict } from '../../src/core/records.ts';
import type { Refusal } from '../../src/core/refusal.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import { compileRuntime } from '../../src/gateway/runtime.ts';
import { type Admitted, createAdmit } from '../../src/gateway/stages/admit.ts';
import type { Caller } from '../../src/gateway/stages/identify.ts';
import { MemoryLimitStore } from '../../src/store/memory-limit-store.ts';
import { MemoryRecordStore } from '../../src/store/memory-record-store.ts';
import { until } from '../helpers/in-process-gateway.ts';
import { testAnswer } from './helpers/answer-parts.ts';

const T0 = Date.UTC(2026, 0, 5, 12);

type Ledger = (owner: string, dataset: string) => BulkExportVerdict | Promise<BulkExportVerdict>;

/**
 * A server whose every request goes through the admit stage. The caller is read from
 * test headers (`x-ip`, `x-account`, `x-key-id`); `x-upgrade` makes it an upgrade and
 * `x-no-method` drops the method. An admitted request is held open until `release`.
 */
async function harness(
  t: { after(fn: () => unknown): void },
  options: { policy?: string; limitStore?: LimitStore; ledger?: Ledger } = {},
) {
  const clock = manualClock(T0);
  const policy = parsePolicyText(options.policy ?? '', 'test-policy.yaml', {});
  const runtime = compileRuntime(policy);
  const records = new MemoryRecordStore();
  const errors: string[] = [];
  const logger = createLogger({
    level: 'error',
    destination: {
      write: (line: string) => {
        const { msg, err } = JSON.parse(line);
        errors.push(`${msg}: ${err?.message}`);
      },
    },
  });
  const { answer: real } = testAnswer(t, { store: records, clock, logger });
  const refusals: Refusal[] = [];
  const shadowed: Refusal[] = [];
  const answer = {
    ...real,
    refuse(res: ServerResponse, caller: Caller, r: Refusal) {
      refusals.push(r);
      real.refuse(res, caller, r);
    },
    shadowRefuse(ex: Parameters<typeof real.shadowRefuse>[0], r: Refusal) {
      shadowed.push(r);
      real.shadowRefuse(ex, r);
    },
  };
  const owners: string[] = [];
  const admit = createAdmit(
    {
      engine: createEngine({ policy, store: options.limitStore ?? new MemoryLimitStore(), clock }),
      clock,
      logger,
      bulkLedger: {
        takeBulkExport: (owner, dataset, now, limit, periodMs) => {
          owners.push(owner);
          if (options.ledger !== undefined) return options.ledger(owner, dataset);
          return records.takeBulkExport(owner, dataset, now, limit, periodMs);
        },
      },
    },
    answer,
  );
  const held = new Map<string, ServerResponse>();
  const admitted: (Admitted | undefined)[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const h = req.headers;
    const ip = String(h['x-ip'] ?? '192.0.2.1');
    const account = h['x-account'] === undefined ? undefined : String(h['x-account']);
    const keyId = h['x-key-id'] === undefined ? undefined : String(h['x-key-id']);
    const caller: Caller = {
      ip,
      ipScope: ip,
      arrivedAt: clock.now(),
      subject: { ip, ...(keyId === undefined ? {} : { keyId }) },
      account: account === undefined ? undefined : { id: account, size: 0, plan: 'standard' },
      plan: account === undefined ? undefined : policy.plans.standard,
    };
    if (h['x-no-method'] !== undefined) Object.defineProperty(req, 'method', { value: undefined });
    if (h['x-no-url'] !== undefined) Object.defineProperty(req, 'url', { value: undefined });
    const upgrade =
      h['x-upgrade'] === undefined ? undefined : { socket: req.socket, head: Buffer.alloc(0) };
    const ex = { req, res, caller, runtime, target: '', upgrade, headers: {} };
    whenReady(admit(ex), (d) => {
      admitted.push(d);
      if (d === undefined) return;
      const name = String(h['x-name'] ?? '');
      if (name === '') res.end(`admitted ${ex.target}`);
      else held.set(name, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const res of held.values()) res.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  const send = async (
    headers: Record<string, string> = {},
    path = '/api/things',
    method = 'GET',
  ) => {
    const answer = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers });
    return { status: answer.status, body: await answer.text() };
  };
  /** Sends a request that is admitted and held; resolves once it is. */
  const hold = async (name: string, headers: Record<string, string> = {}) => {
    const answered = send({ ...headers, 'x-name': name });
    await until(() => held.has(name), `${name} held`);
    return async () => {
      const res = held.get(name)!;
      held.delete(name);
      const closed = new Promise((resolve) => res.once('close', resolve));
      res.end('done');
      assert.equal((await answered).status, 200);
      await closed;
    };
  };
  return { send, hold, refusals, shadowed, admitted, errors, owners };
}

test('one IP holds at most ip.concurrency slots, given back when the response closes', async (t) => {
  const h = await harness(t, { policy: 'ip:\n  concurrency: 1\n' });
  const release = await h.hold('a', { 'x-account': 'acme' });
  const refused = await h.send({ 'x-account': 'acme' });
  assert.equal(refused.status, 429);
  assert.deepEqual(
    h.refusals.map((r) => [r.rule, r.status, r.retryAfterMs, r.counters]),
    [['ip-concurrency', 429, 1000, { ipHeld: 1, ipConcurrency: 1 }]],
  );
  assert.equal((await h.send({ 'x-account': 'acme', 'x-ip': '192.0.2.2' })).status, 200);
  await release();
  assert.equal((await h.send({ 'x-account': 'acme' })).status, 200, 'slot given back');
});

test('keyless callers share unauthenticatedConcurrency slots; a refused one gives its IP slot back', async (t) => {
  const h = await harness(t, {
    policy: 'server:\n  unauthenticatedConcurrency: 1\nip:\n  concurrency: 1\n',
  });
  const release = await h.hold('a', { 'x-ip': '192.0.2.1' });
  assert.equal((await h.send({ 'x-ip': '192.0.2.2' })).status, 429);
  assert.deepEqual(
    h.refusals.map((r) => [r.rule, r.status, r.retryAfterMs, r.counters]),
    [['unauthenticated-concurrency', 429, 1000, { keylessHeld: 1, unauthenticatedConcurrency: 1 }]],
  );
  // The refused keyless request held no slot of its IP: a keyed one from there passes.
  const keyed = await h.hold('b', { 'x-ip': '192.0.2.2', 'x-account': 'acme' });
  assert.equal(h.refusals.length, 1);
  await keyed();
  await release();
  assert.equal((await h.send({ 'x-ip': '192.0.2.3' })).status, 200, 'keyless slot given back');
});

test('a keyed request takes no keyless slot', async (t) => {
  const h = await harness(t, { policy: 'server:\n  unauthenticatedConcurrency: 1\n' });
  const keyed = await h.hold('a', { 'x-account': 'acme' });
  assert.equal((await h.send()).status, 200, 'keyless passes while a keyed one is held');
  await keyed();
});

test('an upgrade takes no slot', async (t) => {
  const h = await harness(t, { policy: 'ip:\n  concurrency: 1\n' });
  const release = await h.hold('a', { 'x-account': 'acme' });
  const up = await h.hold('up', { 'x-account': 'acme', 'x-upgrade': '1' });
  assert.deepEqual(h.refusals, []);
  await up();
  await release();
});

test('a request with no method is routed as a GET', async (t) => {
  const policy =
    'routes:\n  - name: gets\n    method: GET\n    path: /only-get\n    class: non-public\n';
  const h = await harness(t, { policy });
  assert.equal((await h.send({ 'x-no-method': '1' }, '/only-get', 'POST')).status, 403);
  assert.equal((await h.send({}, '/only-get', 'POST')).status, 200);
  assert.deepEqual(
    h.refusals.map((r) => [r.rule, r.counters]),
    [['non-public', { route: 'gets', path: '/only-get' }]],
  );
});

test('a non-public route: a session cookie passes without a key; a key or a bad cookie does not', async (t) => {
  const policy =
    'interactive:\n  cookie: sid\nroutes:\n  - name: reports\n    path: /reports/**\n    class: non-public\n';
  const h = await harness(t, { policy });
  const status = async (cookie: string | undefined, keyId?: string) => {
    const headers: Record<string, string> = {};
    if (cookie !== undefined) headers.cookie = cookie;
    if (keyId !== undefined) headers['x-key-id'] = keyId;
    return (await h.send(headers, '/reports/1')).status;
  };
  assert.equal(await status('sid=abc'), 200);
  assert.equal(await status('a=1; sid=abc'), 200, 'not the first cookie');
  assert.equal(await status(' sid = abc ;x=2'), 200, 'spaces around the name and value');
  assert.equal(await status('sid=abc', 'K1'), 403, 'a key is automation');
  assert.equal(await status(undefined), 403, 'no cookie');
  assert.equal(await status('sid='), 403, 'empty value');
  assert.equal(await status('sid=  ; x=1'), 403, 'blank value');
  assert.equal(await status('=sid'), 403, 'no name');
  assert.equal(await status('xsid=abc'), 403, 'another name ending like it');
  assert.equal(await status('sidx=abc'), 403, 'another name starting like it');
  assert.equal(await status('sid'), 403, 'no value at all');
  assert.equal(await status('sidx'), 403, 'no "=" in a longer word');
  assert.equal(await status('other=sid=abc'), 403, 'the name in a value');
});

test('the canonical target is what admit hands on; a target with none is answered 400', async (t) => {
  const h = await harness(t);
  assert.equal((await h.send({}, '/api/a/./b?x=1')).body, 'admitted /api/a/b?x=1');
  assert.equal((await h.send({}, '/api/a%2Fb')).status, 400);
  assert.equal((await h.send({ 'x-no-url': '1' })).body, 'admitted /', 'no URL: the root');
  assert.deepEqual(h.refusals, [], 'a bad path is no refusal incident');
});

test('a limit store that fails: the request is let through, and the failure logged', async (t) => {
  const failing = new Proxy(new MemoryLimitStore(), {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== 'function') return value;
      // Every count fails; the rest (prefetch, close) is the real store's.
      if (!/^(gcra|window)/.test(String(name))) return value.bind(target);
      return () => Promise.reject(new Error('limit store down'));
    },
  });
  const h = await harness(t, { limitStore: failing });
  assert.equal((await h.send({ 'x-account': 'acme' })).status, 200);
  assert.deepEqual(h.admitted, [{ outcome: 'allow', limits: [], warning: undefined }]);
  assert.deepEqual(h.errors, ['limit store failed: limit store down']);
});

test('a limit store that throws at once fails open too: the request is let through, and logged', async (t) => {
  const throwing = new Proxy(new MemoryLimitStore(), {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== 'function') return value;
      if (!/^(gcra|window)/.test(String(name))) return value.bind(target);
      return () => {
        throw new Error('limit store broken');
      };
    },
  });
  const h = await harness(t, { limitStore: throwing });
  assert.equal((await h.send({ 'x-account': 'acme' })).status, 200);
  assert.deepEqual(h.admitted, [{ outcome: 'allow', limits: [], warning: undefined }]);
  assert.deepEqual(h.errors, ['limit store failed: limit store broken']);
});

test('a bulk export is counted per account, or per IP without one, after the limits', async (t) => {
  const h = await harness(t);
  assert.equal((await h.send({ 'x-account': 'acme' }, '/api/exports/companies')).status, 200);
  assert.equal((await h.send({}, '/api/exports/companies')).status, 200);
  assert.equal((await h.send({ 'x-account': 'acme' }, '/api/exports/companies')).status, 429);
  assert.deepEqual(h.owners, ['acme', 'ip:192.0.2.1', 'acme']);
  assert.equal(h.refusals[0]?.rule, 'bulk-export');
  assert.equal((await h.send({ 'x-account': 'acme' }, '/api/companies/1')).status, 200);
  assert.equal(h.owners.length, 3, 'no ledger for another route');
});

test('a bulk ledger that throws or rejects: the export waits (429), and the failure is logged', async (t) => {
  for (const ledger of [
    (): never => {
      throw new Error('ledger down');
    },
    () => Promise.reject(new Error('ledger down')),
  ]) {
    const h = await harness(t, { ledger });
    assert.equal((await h.send({ 'x-account': 'acme' }, '/api/exports/companies')).status, 429);
    assert.deepEqual(
      h.refusals.map((r) => [r.rule, r.retryAfterMs, r.counters]),
      [['bulk-export', 60_000, { dataset: 'companies', ledger: 'unavailable' }]],
    );
    assert.deepEqual(h.errors, ['bulk export ledger failed: ledger down']);
  }
});

test('a shared limit store that fails closed: 503, nothing admitted, no second log line', async (t) => {
  const unavailable = () =>
    new SluiceError('SLUICE_ERR_LIMITS_UNAVAILABLE', 'the shared limit store is not answering');
  for (const fail of [
    () => Promise.reject(unavailable()),
    (): never => {
      throw unavailable();
    },
  ]) {
    const closed = new Proxy(new MemoryLimitStore(), {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver);
        if (typeof value !== 'function') return value;
        if (!/^(gcra|window)/.test(String(name))) return value.bind(target);
        return fail;
      },
    });
    const h = await harness(t, { limitStore: closed });
    const answer = await h.send({ 'x-account': 'acme' });
    assert.equal(answer.status, 503);
    assert.match(JSON.parse(answer.body).type, /:limits-unavailable$/, answer.body);
    assert.deepEqual(h.admitted, [undefined]);
    // The store logs its own failure once; admit adds no line per request.
    assert.deepEqual(h.errors, []);
    assert.deepEqual(h.refusals, []);
  }
});

test('shadow mode: a refusal of the limits goes on as allowed, with its limits', async (t) => {
  const policy = 'mode: shadow\nroutes:\n  - name: slow\n    path: /api/slow\n    rate: 1/min\n';
  const h = await harness(t, { policy });
  assert.equal((await h.send({ 'x-account': 'acme' }, '/api/slow')).status, 200);
  assert.equal((await h.send({ 'x-account': 'acme' }, '/api/slow')).status, 200, 'would be 429');
  assert.deepEqual(h.refusals, [], 'nothing refused');
  assert.deepEqual(
    h.shadowed.map((r) => [r.rule, r.status]),
    [['route-rate', 429]],
  );
  const second = h.admitted[1];
  assert.equal(second?.outcome, 'allow');
  // The route's window is spent; the IP and the account counted the request as they would.
  assert.deepEqual(second?.limits, [
    { policy: 'ip', quota: 200, windowSec: 60, remaining: 198, resetSec: 60 },
    { policy: 'account', quota: 60, windowSec: 60, remaining: 18, resetSec: 2 },
    { policy: 'route-slow', quota: 1, windowSec: 60, remaining: 0, resetSec: 60 },
  ]);
});

test("shadow mode: a route that would refuse outright is not counted, the account's budget pays its cost", async (t) => {
  const policy =
    'mode: shadow\nroutes:\n  - name: reports\n    path: /reports/**\n    class: non-public\n    cost: 5\n';
  const h = await harness(t, { policy });
  assert.equal((await h.send({ 'x-account': 'acme', 'x-key-id': 'K1' }, '/reports/1')).status, 200);
  assert.equal(
    (await h.send({ 'x-account': 'acme', 'x-key-id': 'K1' }, '/api/things')).status,
    200,
  );
  assert.deepEqual(h.refusals, []);
  assert.deepEqual(
    h.shadowed.map((r) => [r.rule, r.status]),
    [['non-public', 403]],
  );
  const [first, second] = h.admitted.map((a) => a?.limits.find((l) => l.policy === 'account'));
  assert.ok(first && second, JSON.stringify(h.admitted));
  assert.equal(first.remaining, 15, 'the route cost 5 of the burst of 20');
  assert.equal(second.remaining, 14, 'a cost-1 request after it');
});

test('enforce mode: a refusal of the limits is answered and the request goes no further', async (t) => {
  const policy = 'routes:\n  - name: slow\n    path: /api/slow\n    rate: 1/min\n';
  const h = await harness(t, { policy });
  assert.equal((await h.send({ 'x-account': 'acme' }, '/api/slow')).status, 200);
  assert.equal((await h.send({ 'x-account': 'acme' }, '/api/slow')).status, 429);
  assert.equal(h.admitted[1], undefined);
  assert.deepEqual(
    h.refusals.map((r) => r.rule),
    ['route-rate'],
  );
  assert.deepEqual(h.shadowed, []);
});

test('a limit store that answers later: the same decision, once it answers', async (t) => {
  const later = new Proxy(new MemoryLimitStore(), {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== 'function') return value;
      const real = value.bind(target);
      if (!/^(gcra|window)/.test(String(name))) return real;
      return (...args: unknown[]) => Promise.resolve(real(...args));
    },
  });
  const h = await harness(t, { limitStore: later });
  assert.equal((await h.send({ 'x-account': 'acme' })).status, 200);
  assert.equal(h.admitted[0]?.outcome, 'allow');
  assert.deepEqual(
    h.admitted[0]?.limits.map((l) => [l.policy, l.remaining]),
    [
      ['ip', 199],
      ['account', 19],
    ],
  );
});

test('a store failure of another kind than fail-closed fails open, even a SluiceError', async (t) => {
  const other = new Proxy(new MemoryLimitStore(), {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== 'function') return value;
      if (!/^(gcra|window)/.test(String(name))) return value.bind(target);
      return () => Promise.reject(new SluiceError('SLUICE_ERR_STORE', 'the store broke'));
    },
  });
  const h = await harness(t, { limitStore: other });
  assert.equal((await h.send({ 'x-account': 'acme' })).status, 200);
  assert.deepEqual(h.errors, ['limit store failed: the store broke']);
});
