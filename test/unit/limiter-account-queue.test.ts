import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AccountQueues, SlowedCounter } from '../../src/core/limiter/account-queue.ts';

test('runs up to the limit, then queues, then is full', () => {
  const q = new AccountQueues();
  assert.deepEqual(q.acquire('a', 2, 2), { status: 'run' });
  assert.deepEqual(q.acquire('a', 2, 2), { status: 'run' });
  const first = q.acquire('a', 2, 2);
  const second = q.acquire('a', 2, 2);
  assert.equal(first.status, 'queued');
  assert.equal(second.status, 'queued');
  assert.deepEqual(q.acquire('a', 2, 2), { status: 'full' });
  assert.equal(q.inflight('a'), 2);
  assert.equal(q.queued('a'), 2);
});

test('waiters run in FIFO order, each taking over the freed slot', () => {
  const q = new AccountQueues();
  q.acquire('a', 1, 10);
  const tickets: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = q.acquire('a', 1, 10);
    assert.equal(r.status, 'queued');
    if (r.status === 'queued') tickets.push(r.ticket);
  }
  const order: (number | undefined)[] = [];
  for (let i = 0; i < 5; i++) {
    order.push(q.release('a'));
    assert.equal(q.inflight('a'), 1, 'the slot was handed over, not freed');
  }
  assert.deepEqual(order, tickets);
  assert.equal(q.release('a'), undefined);
  assert.equal(q.inflight('a'), 0);
  assert.equal(q.size, 0, 'an idle account leaves no state behind');
});

test('a newcomer never overtakes a waiter, even right after a release', () => {
  const q = new AccountQueues();
  q.acquire('a', 1, 5);
  const waiting = q.acquire('a', 1, 5);
  assert.equal(waiting.status, 'queued');
  // The waiter is handed the slot; a new request must queue behind it.
  assert.equal(q.release('a'), waiting.status === 'queued' ? waiting.ticket : -1);
  const behind = q.acquire('a', 1, 5);
  assert.equal(behind.status, 'queued');
  // Even with a slot free (the limit was raised by a policy reload), it waits its turn.
  assert.equal(q.acquire('a', 3, 5).status, 'queued');
  assert.equal(q.release('a'), behind.status === 'queued' ? behind.ticket : -1);
});

test('cancel removes a waiter, frees its place, and reports whether it was still waiting', () => {
  const q = new AccountQueues();
  q.acquire('a', 1, 2);
  const w1 = q.acquire('a', 1, 2);
  const w2 = q.acquire('a', 1, 2);
  assert.equal(q.acquire('a', 1, 2).status, 'full');
  assert.ok(w1.status === 'queued' && w2.status === 'queued');
  assert.equal(q.cancel('a', w1.ticket), true);
  assert.equal(q.cancel('a', w1.ticket), false, 'already gone');
  assert.equal(q.queued('a'), 1);
  assert.equal(q.acquire('a', 1, 2).status, 'queued', 'its place is free again');
  assert.equal(q.release('a'), w2.ticket, 'the cancelled waiter is skipped');
  assert.equal(q.cancel('b', 1), false);
});

test('accounts are independent: one account full does not stop another', () => {
  const q = new AccountQueues();
  q.acquire('flood', 1, 1);
  q.acquire('flood', 1, 1);
  assert.equal(q.acquire('flood', 1, 1).status, 'full');
  for (let i = 0; i < 100; i++) assert.equal(q.acquire(`acct-${i}`, 1, 1).status, 'run');
  assert.equal(q.size, 101);
  for (let i = 0; i < 100; i++) q.release(`acct-${i}`);
  assert.equal(q.size, 1);
});

test('state is deleted when idle: after cancelling the last waiter and releasing', () => {
  const q = new AccountQueues();
  q.acquire('a', 1, 1);
  const w = q.acquire('a', 1, 1);
  assert.ok(w.status === 'queued');
  q.cancel('a', w.ticket);
  q.release('a');
  assert.equal(q.size, 0);
  assert.equal(q.acquire('z', 0, 0).status, 'full');
  assert.equal(q.size, 0, 'a refusal leaves nothing behind');
  assert.equal(q.release('nobody'), undefined);
});

test('SlowedCounter counts per id and forgets ids at zero', () => {
  const s = new SlowedCounter();
  s.enter('a');
  s.enter('a');
  s.enter('b');
  assert.equal(s.count('a'), 2);
  assert.equal(s.count('b'), 1, 'another account is counted apart');
  s.leave('a');
  assert.equal(s.count('a'), 1);
  s.enter('a');
  s.leave('a');
  s.leave('a');
  s.leave('a'); // one too many: ignored
  s.leave('b');
  assert.equal(s.count('a'), 0);
  assert.equal(s.size, 0);
});

test('an account with a request running is kept when its last waiter leaves, or a newcomer finds it full', () => {
  const q = new AccountQueues();
  assert.deepEqual(q.acquire('a', 1, 1), { status: 'run' });
  const waiter = q.acquire('a', 1, 1);
  assert.equal(waiter.status, 'queued');
  assert.equal(q.cancel('a', (waiter as { ticket: number }).ticket), true);
  // One still runs: the next one waits, it does not run beside it.
  assert.equal(q.acquire('a', 1, 1).status, 'queued');
  assert.equal(q.inflight('a'), 1);

  const full = new AccountQueues();
  full.acquire('b', 1, 0);
  assert.deepEqual(full.acquire('b', 1, 0), { status: 'full' });
  assert.deepEqual(full.acquire('b', 1, 0), { status: 'full' });
  assert.equal(full.inflight('b'), 1);
});
