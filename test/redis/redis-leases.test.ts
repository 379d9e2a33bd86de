/**
 * Per-account concurrency leases against a real redis-server: the scripts with time as
 * an argument (acquire up to the limit, release, a dead holder's leases expire, renewal
 * keeps them), and the lease queues of two "nodes" (two connections) sharing one
 * account's slots: FIFO within a node, a slot freed goes to the oldest waiter here.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { manualClock } from '../../src/core/clock.ts';
import type { Acquired } from '../../src/core/limiter/account-queue.ts';
import type { GcraParams, WindowParams } from '../../src/core/limiter/types.ts';
import { RedisLeaseQueues } from '../../src/store/redis-lease-queues.ts';
import { RedisLeases } from '../../src/store/redis-leases.ts';
import { RedisLimitStore } from '../../src/store/redis-limit-store.ts';
import { RedisLink } from '../../src/store/redis-link.ts';
import { type RedisProcess, startRedis } from '../helpers/redis-server.ts';

let redis: RedisProcess;
const links: RedisLink[] = [];
before(async () => {
  redis = await startRedis();
});
after(async () => {
  for (const link of links) link.close();
  await redis?.stop();
});

let prefixes = 0;
async function link(): Promise<RedisLink> {
  const made = new RedisLink({ url: redis.url }, { timeoutMs: 1000 });
  links.push(made);
  assert.ok(await made.ready(10_000), 'connected to redis');
  return made;
}

const T0 = 1_767_225_600_000;

test('leases: at most `limit` at once; a release frees one; time is the caller’s', async () => {
  const leases = new RedisLeases(await link(), `l${prefixes++}:`);
  assert.equal(await leases.take('acme', T0, 10_000, 2, ['a:1', 'a:2', 'a:3']), 2);
  assert.equal(await leases.take('acme', T0, 10_000, 2, ['b:1']), 0);
  assert.equal(await leases.count('acme', T0), 2);
  // Another account has its own slots.
  assert.equal(await leases.take('other', T0, 10_000, 1, ['b:2']), 1);
  await leases.release('acme', 'a:1');
  assert.equal(await leases.take('acme', T0 + 1, 10_000, 2, ['b:1']), 1);
  assert.equal(await leases.count('acme', T0 + 1), 2);
});

test('leases: a dead holder’s leases expire after the lease time; renewed ones do not', async () => {
  const leases = new RedisLeases(await link(), `l${prefixes++}:`);
  assert.equal(await leases.take('acme', T0, 10_000, 2, ['dead:1', 'live:1']), 2);
  // The live node renews at T0 + 6 s; the dead one never does.
  await leases.renew('acme', T0 + 6_000, 10_000, ['live:1']);
  assert.equal(await leases.take('acme', T0 + 9_999, 10_000, 2, ['x:1']), 0, 'not yet expired');
  assert.equal(await leases.take('acme', T0 + 10_000, 10_000, 2, ['x:1']), 1, 'dead:1 expired');
  assert.equal(await leases.count('acme', T0 + 10_000), 2);
  assert.equal(await leases.count('acme', T0 + 16_000), 1, 'live:1 expired in turn, x:1 not');
});

test('leases: renewal adds back a lease Redis lost (a restart without persistence)', async () => {
  const made = await link();
  const leases = new RedisLeases(made, `l${prefixes++}:`);
  assert.equal(await leases.take('acme', T0, 10_000, 1, ['a:1']), 1);
  await made.client.del(`l${prefixes - 1}:c{acct:acme}`);
  await leases.renew('acme', T0 + 1_000, 10_000, ['a:1']);
  assert.equal(await leases.take('acme', T0 + 1_000, 10_000, 1, ['b:1']), 0);
});

test('the key expires in Redis when nobody renews (idle accounts leave nothing)', async () => {
  const made = await link();
  const prefix = `l${prefixes++}:`;
  const leases = new RedisLeases(made, prefix);
  await leases.take('acme', T0, 5_000, 1, ['a:1']);
  const ttl = await made.client.pttl(`${prefix}c{acct:acme}`);
  assert.ok(ttl > 0 && ttl <= 5_000, `ttl ${ttl}`);
});

/** Resolves when the queues start `ticket` (a slot freed elsewhere), within `ms`. */
function started(queues: RedisLeaseQueues, ticket: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    queues.onReady((t) => {
      if (t === ticket) {
        clearTimeout(timer);
        resolve(true);
      }
    });
  });
}

test('lease queues: two nodes share one account’s slots; FIFO within a node', async (t) => {
  const prefix = `q${prefixes++}:`;
  const clock = manualClock(T0);
  const a = new RedisLeaseQueues({
    leases: new RedisLeases(await link(), prefix),
    clock,
    leaseMs: 10_000,
    pollMs: 20,
  });
  const b = new RedisLeaseQueues({
    leases: new RedisLeases(await link(), prefix),
    clock,
    leaseMs: 10_000,
    pollMs: 20,
  });
  t.after(() => {
    a.close();
    b.close();
  });
  assert.deepEqual(await a.acquire('acme', 2, 5), { status: 'run' });
  assert.deepEqual(await b.acquire('acme', 2, 5), { status: 'run' });
  // Both slots are held (one per node): a third, on either node, waits.
  const waitA1 = (await a.acquire('acme', 2, 5)) as Acquired & { ticket: number };
  assert.equal(waitA1.status, 'queued');
  // A later request on node a never overtakes the one waiting there (answered at once).
  const waitA2 = a.acquire('acme', 2, 5) as Acquired & { ticket: number };
  assert.equal(waitA2.status, 'queued');
  assert.equal(a.queued('acme'), 2);
  // Node b's request ends: its lease is freed, and node a's oldest waiter gets it.
  const first = started(a, waitA1.ticket, 2_000);
  assert.equal(b.release('acme'), undefined);
  assert.ok(await first, 'node a’s first waiter started on the slot node b freed');
  assert.equal(a.inflight('acme'), 2);
  // Node a's own release hands its slot (and lease) to its next waiter directly.
  assert.equal(a.release('acme'), waitA2.ticket);
  assert.deepEqual(
    await b.acquire('acme', 2, 0),
    { status: 'full' },
    'node b: both slots are held on node a, and its queue holds none',
  );
  // Both of node a's requests end: the slots are free for node b.
  assert.equal(a.release('acme'), undefined);
  assert.equal(a.release('acme'), undefined);
  await new Promise((r) => setTimeout(r, 50)); // the lease frees are sent, not awaited
  assert.deepEqual(await b.acquire('acme', 2, 0), { status: 'run' });
});

test('lease queues: a lease freed while Redis did not answer is freed when it answers again', async (t) => {
  const made = await link();
  const leases = new RedisLeases(made, `q${prefixes++}:`);
  const queues = new RedisLeaseQueues({ leases, clock: manualClock(T0), leaseMs: 10_000 });
  t.after(() => queues.close());
  assert.deepEqual(await queues.acquire('acme', 1, 0), { status: 'run' });
  // Redis stops answering (as a call past store.timeout marks it); the request ends meanwhile.
  made.down(new Error('test: Redis did not answer'));
  assert.equal(queues.release('acme'), undefined);
  // The link's probe finds Redis answering (within 200 ms): the lease is freed then, not
  // left to hold the account's only slot for the 10 s it has left.
  const deadline = performance.now() + 3_000;
  while ((await leases.count('acme', T0)) > 0 && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(made.up, 'the link is up again');
  assert.equal(await leases.count('acme', T0), 0);
});

test('lease queues: a lease taken with a decision runs its request without a round trip; one nobody asks for is freed', async (t) => {
  const made = await link();
  const prefix = `q${prefixes++}:`;
  const leases = new RedisLeases(made, prefix);
  const clock = manualClock(T0);
  const queues = new RedisLeaseQueues({ leases, clock, leaseMs: 10_000, pollMs: 5_000 });
  const store = new RedisLimitStore(made, prefix);
  store.takeLeasesWith(queues);
  t.after(() => queues.close());
  const w: WindowParams = { periodMs: 60_000, warn: 1000, block: 1000 };
  const g: GcraParams = { emissionMs: 1, burst: 1000, maxDelayMs: 0, limit: 1, periodMs: 1 };
  const slot = { account: 'acme', limit: 1 };
  const decide = () => store.windowThenGcra('ip:a', w, 'acct:acme', 1, g, T0, slot);
  const settled = () => new Promise((r) => setTimeout(r, 50)); // the end of the turn, the frees sent

  // Decided, then nobody asks (a later stage refused it): the lease is freed.
  await decide();
  assert.equal(await leases.count('acme', T0), 1, 'taken with the decision');
  await settled();
  assert.equal(await leases.count('acme', T0), 0, 'freed at the end of the turn');
  assert.equal(queues.size, 0);

  // Decided, then asked in the same turn: answered at once (no promise), with that lease.
  await decide();
  const run = queues.acquire('acme', 1, 5);
  assert.deepEqual(run, { status: 'run' });
  // The account is full now: the script says so, and the request queues without asking again.
  await decide();
  const queued = queues.acquire('acme', 1, 5) as Acquired & { ticket: number };
  assert.equal(queued.status, 'queued');
  assert.equal(await leases.count('acme', T0), 1);

  // While a request waits here, a decision takes no lease (the waiter is first in line).
  await decide();
  assert.equal(await leases.count('acme', T0), 1);
  // The running request ends: its slot, and lease, go to the waiter here.
  assert.equal(queues.release('acme'), queued.ticket);
  assert.equal(queues.release('acme'), undefined);
  await settled();
  assert.equal(await leases.count('acme', T0), 0);
});
