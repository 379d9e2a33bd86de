/**
 * The hold stage with its real parts (the engine over a memory limit store, the answer
 * stage, a manual clock) on real node:http requests, with the two kinds of slot tables
 * the in-process gateway never builds: slots shared by threads (a slot another thread
 * frees starts a waiter here) and slots that answer later, as Redis does (a client gone
 * before the answer gives back what it got). The next stage only records what reaches it.
 */
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { manualClock } from '../../src/core/clock.ts';
import { createEngine } from '../../src/core/engine.ts';
import {
  AccountQueues,
  type Acquired,
  type ConcurrencyQueues,
} from '../../src/core/limiter/account-queue.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
import { createMetrics } from '../../src/gateway/metrics.ts';
import { compileRuntime } from '../../src/gateway/runtime.ts';
import type { Exchange } from '../../src/gateway/stages/exchange.ts';
import { createHold } from '../../src/gateway/stages/hold.ts';
import type { Caller } from '../../src/gateway/stages/identify.ts';
import { MemoryLimitStore } from '../../src/store/memory-limit-store.ts';
import { MemoryRecordStore } from '../../src/store/memory-record-store.ts';
import { SharedAccountQueues } from '../../src/store/shared-account-queues.ts';
import { SharedCounters } from '../../src/store/shared-counters.ts';
import { until } from '../helpers/in-process-gateway.ts';
import { testAnswer } from './helpers/answer-parts.ts';

const T0 = Date.UTC(2026, 0, 5, 12);
const POLICY = 'plans:\n  standard: { concurrency: 1, queue: 5, queueTimeout: 10s }\n';

/**
 * Account queues whose `acquire` answers when the test says (as a lease in Redis does,
 * a round trip later); the rest answers at once, as RedisLeaseQueues' does.
 */
class AnsweringLater implements ConcurrencyQueues {
  readonly inner = new AccountQueues();
  readonly pending: (() => void)[] = [];
  acquire(accountId: string, limit: number, queueMax: number): Promise<Acquired> {
    return new Promise((resolve) =>
      this.pending.push(() => resolve(this.inner.acquire(accountId, limit, queueMax))),
    );
  }
  /** Answers every acquire asked so far. */
  answer(): void {
    for (const go of this.pending.splice(0)) go();
  }
  release(accountId: string) {
    return this.inner.release(accountId);
  }
  cancel(accountId: string, ticket: number) {
    return this.inner.cancel(accountId, ticket);
  }
  inflight(accountId: string) {
    return this.inner.inflight(accountId);
  }
  queued(accountId: string) {
    return this.inner.queued(accountId);
  }
}

/**
 * A server whose every request (of account `acme`) goes through the hold stage as
 * allowed, or delayed `x-delay-ms`. What reaches the next stage is answered 200 at once, its slot kept until the
 * test calls its release (by the request's `x-name`).
 */
async function harness(t: { after(fn: () => unknown): void }, queues: ConcurrencyQueues) {
  const clock = manualClock(T0);
  const policy = parsePolicyText(POLICY, 'test-policy.yaml', {});
  const runtime = compileRuntime(policy);
  const metrics = createMetrics({ defaults: false });
  const { answer } = testAnswer(t, { store: new MemoryRecordStore(), clock, metrics });
  const releases = new Map<string, (() => void) | undefined>();
  const closed = new Set<string>();
  const hold = createHold(
    {
      engine: createEngine({ policy, store: new MemoryLimitStore(), clock }),
      queues,
      clock,
      metrics,
    },
    answer,
    (ex, release) => {
      releases.set(String(ex.req.headers['x-name']), release);
      ex.res.end('forwarded');
    },
  );
  const server = createServer((req, res: ServerResponse) => {
    const name = String(req.headers['x-name']);
    res.once('close', () => closed.add(name));
    const caller: Caller = {
      ip: '192.0.2.1',
      ipScope: '192.0.2.1',
      arrivedAt: clock.now(),
      subject: { ip: '192.0.2.1', accountId: 'acme', keyId: 'k1' },
      account: { id: 'acme', size: 0, plan: 'standard' },
      plan: policy.plans.standard,
    };
    const ex: Exchange = {
      req,
      res,
      caller,
      runtime,
      target: '/',
      upgrade: undefined,
      headers: {},
    };
    const delayMs = Number(req.headers['x-delay-ms'] ?? 0);
    hold.run(
      ex,
      delayMs > 0
        ? { outcome: 'delay', delayMs, rule: 'account-rate', limits: [], warning: undefined }
        : { outcome: 'allow', limits: [], warning: undefined },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  /** Sends a request named `name`; `gone()` makes its client go away. */
  const send = (name: string, delayMs = 0) => {
    const client = new AbortController();
    const answered = fetch(`http://127.0.0.1:${port}/`, {
      headers: { 'x-name': name, 'x-delay-ms': String(delayMs) },
      // Bounded: a request the stage never answers fails the test, never hangs it.
      signal: AbortSignal.any([client.signal, AbortSignal.timeout(5_000)]),
    }).then(
      async (r) => ({ status: r.status, body: await r.text() }),
      () => ({ status: 0, body: 'gone' }),
    );
    return {
      answered,
      async gone() {
        client.abort();
        await answered;
        await until(() => closed.has(name), `${name}'s response is closed`);
      },
    };
  };
  return { clock, hold, send, releases };
}

test('a slot another thread frees starts the waiter here at once, and its queue timeout is cleared', async (t) => {
  const counters = new SharedCounters({ lanes: 2, stripes: 2, capacity: 8 });
  const here = new SharedAccountQueues(counters, 0);
  const there = new SharedAccountQueues(SharedCounters.attach(counters.share()), 1);
  t.after(() => {
    here.close();
    there.close();
  });
  const h = await harness(t, here);
  assert.deepEqual(there.acquire('acme', 1, 5), { status: 'run' });
  const waiter = h.send('w');
  await until(() => h.clock.pending() === 1, 'queued here, its timeout armed');
  assert.equal(h.hold.waiting(), 1);
  there.release('acme');
  assert.deepEqual(await waiter.answered, { status: 200, body: 'forwarded' });
  assert.equal(h.clock.pending(), 0, 'the timeout is cleared');
  assert.equal(h.hold.waiting(), 0);
  assert.equal(here.inflight('acme'), 1, 'it holds the slot');
  h.releases.get('w')?.();
  assert.equal(here.inflight('acme'), 0);
});

test('slots that answer later: a client gone before its slot came gives the slot back', async (t) => {
  const queues = new AnsweringLater();
  const h = await harness(t, queues);
  const early = h.send('early');
  await until(() => queues.pending.length === 1, 'the slot is asked for');
  await early.gone();
  queues.answer();
  await until(() => queues.inflight('acme') === 0, 'the slot it got is given back');
  assert.equal(h.releases.has('early'), false, 'never forwarded');
  // The next one gets the slot and keeps it until it is done.
  const next = h.send('next');
  await until(() => queues.pending.length === 1, 'the slot is asked for');
  queues.answer();
  assert.deepEqual(await next.answered, { status: 200, body: 'forwarded' });
  assert.equal(queues.inflight('acme'), 1);
  h.releases.get('next')?.();
  assert.equal(queues.inflight('acme'), 0);
});

test('slots that answer later: a client gone before its place in the queue came gives the place back', async (t) => {
  const queues = new AnsweringLater();
  const h = await harness(t, queues);
  assert.deepEqual(queues.inner.acquire('acme', 1, 5), { status: 'run' });
  const early = h.send('early');
  await until(() => queues.pending.length === 1, 'the slot is asked for');
  await early.gone();
  queues.answer();
  await until(() => queues.queued('acme') === 0, 'its place is given back');
  assert.equal(h.clock.pending(), 0, 'no queue timeout armed for it');
  assert.equal(h.hold.waiting(), 0);
});

test('stopping: every queued request leaves the queue at once as it is answered 503', async (t) => {
  const queues = new AccountQueues();
  const h = await harness(t, queues);
  assert.deepEqual(await h.send('holder').answered, { status: 200, body: 'forwarded' });
  const waiting = [h.send('a'), h.send('b')];
  await until(() => h.hold.waiting() === 2, 'both queued');
  assert.equal(queues.queued('acme'), 2);
  h.hold.drainWaiting();
  assert.equal(h.hold.waiting(), 0, 'at once');
  // The slot given back right then goes to nobody who was drained: it is free.
  h.releases.get('holder')?.();
  assert.equal(queues.inflight('acme'), 0);
  assert.equal(queues.queued('acme'), 0);
  for (const w of waiting) assert.equal((await w.answered).status, 503);
  assert.equal(h.hold.waiting(), 0);
});

test('stopping: a slowed request is answered 503 and never forwarded when its delay would have ended', async (t) => {
  const h = await harness(t, new AccountQueues());
  const slowed = h.send('slowed', 2_000);
  await until(() => h.clock.pending() === 1, 'held on the clock');
  assert.equal(h.hold.waiting(), 1);
  h.hold.drainWaiting();
  // At once, not when its answer has gone out.
  assert.equal(h.clock.pending(), 0, 'its hold is taken off the clock');
  assert.equal(h.hold.waiting(), 0);
  assert.equal((await slowed.answered).status, 503);
  h.clock.advance(2_000);
  assert.equal(h.releases.has('slowed'), false, 'never forwarded');
  assert.equal(h.hold.waiting(), 0);
});

test('slots that answer later: a client gone before it was told the queue is full changes no count', async (t) => {
  const queues = new AnsweringLater();
  const h = await harness(t, queues);
  assert.deepEqual(queues.inner.acquire('acme', 1, 5), { status: 'run' });
  for (let i = 0; i < 5; i++) assert.equal(queues.inner.acquire('acme', 1, 5).status, 'queued');
  const early = h.send('early');
  await until(() => queues.pending.length === 1, 'the slot is asked for');
  await early.gone();
  queues.answer();
  // Let the answer's callbacks run, then: the one running and the five waiting are as they were.
  await new Promise((r) => setImmediate(r));
  assert.deepEqual([queues.inflight('acme'), queues.queued('acme')], [1, 5]);
  assert.equal(h.hold.waiting(), 0);
});

test('a ticket handed its slot but not yet started (Redis leases tell later) is not timed out meanwhile', async (t) => {
  let ready: (ticket: number) => void = () => {};
  const queues = Object.assign(new AccountQueues(), {
    onReady(listener: (ticket: number) => void) {
      ready = listener;
    },
  });
  const h = await harness(t, queues);
  assert.deepEqual(queues.acquire('acme', 1, 5), { status: 'run' });
  const waiter = h.send('w');
  await until(() => h.clock.pending() === 1, 'queued, its timeout armed');
  // The slot is handed to its ticket where the leases are; this thread hears of it later.
  const ticket = queues.release('acme');
  assert.equal(typeof ticket, 'number');
  h.clock.advance(10_000);
  ready(ticket!);
  assert.deepEqual(await waiter.answered, { status: 200, body: 'forwarded' });
});
