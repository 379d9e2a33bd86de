/**
 * The shared counters and queues worker threads enforce concurrency with: caps across
 * lanes (threads), what a dead lane held given back, FIFO within a thread, a slot freed
 * by another thread reaching this one's waiter. Two instances over the same buffers stand
 * for two threads (the buffers are what a worker attaches to).
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import type { Incident } from '../../src/core/records.ts';
import { openIncidentJournal, replayIncidentJournals } from '../../src/store/incident-journal.ts';
import { MemoryRecordStore } from '../../src/store/memory-record-store.ts';
import { SharedAccountQueues, sharedSlotCounter } from '../../src/store/shared-account-queues.ts';
import { SharedCounters } from '../../src/store/shared-counters.ts';
import { tempDir } from '../helpers/gateway-process.ts';

function pair(lanes = 2) {
  const a = new SharedCounters({ lanes, stripes: 2, capacity: 8 });
  return [a, SharedCounters.attach(a.share())] as const;
}

test('a cap holds across lanes, and a key is forgotten when nothing is held', () => {
  const [a, b] = pair();
  assert.equal(a.take('run:', 'acme', 3, 0), true);
  assert.equal(b.take('run:', 'acme', 3, 1), true);
  assert.equal(b.take('run:', 'acme', 3, 1), true);
  assert.equal(a.take('run:', 'acme', 3, 0), false, 'the fourth, on either lane');
  assert.equal(a.held('run:', 'acme'), 3);
  assert.equal(b.take('run:', 'other', 3, 1), true, 'another key is its own');
  a.give('run:', 'acme', 0);
  assert.equal(b.take('run:', 'acme', 3, 1), true, 'a slot given back by lane 0 serves lane 1');
  for (let i = 0; i < 3; i++) b.give('run:', 'acme', 1);
  b.give('run:', 'other', 1);
  assert.equal(a.held('run:', 'acme'), 0);
  assert.equal(a.size(), 0, 'rows removed at zero');
});

test('a lane never gives back more than it holds', () => {
  const [a] = pair();
  a.take('run:', 'acme', 3, 0);
  a.give('run:', 'acme', 1); // lane 1 holds nothing of acme
  assert.equal(a.held('run:', 'acme'), 1);
});

test('releaseLane gives back everything a dead lane held, and nothing of the others', () => {
  const [a, b] = pair();
  for (let i = 0; i < 2; i++) a.take('run:', 'acme', 5, 0);
  a.take('queue:', 'acme', 5, 0);
  b.take('run:', 'acme', 5, 1);
  b.take('ip:', '192.0.2.1', 5, 1);
  assert.equal(b.releaseLane(0), 3);
  assert.equal(a.held('run:', 'acme'), 1);
  assert.equal(a.held('queue:', 'acme'), 0);
  assert.equal(a.held('ip:', '192.0.2.1'), 1);
  // The dead lane's late gives change nothing: it holds nothing any more.
  a.give('run:', 'acme', 0);
  assert.equal(a.held('run:', 'acme'), 1);
});

test('past the capacity a take is let through uncounted rather than refused', () => {
  const a = new SharedCounters({ lanes: 1, stripes: 1, capacity: 2 });
  assert.equal(a.take('ip:', 'a', 1, 0), true);
  assert.equal(a.take('ip:', 'b', 1, 0), true);
  assert.equal(a.take('ip:', 'c', 1, 0), true);
  assert.equal(a.held('ip:', 'c'), 0);
});

test('shared queues: FIFO in a thread, a request never overtakes a waiter of another thread', () => {
  const [a, b] = pair();
  const one = new SharedAccountQueues(a, 0);
  const two = new SharedAccountQueues(b, 1);
  assert.deepEqual(one.acquire('acme', 1, 2), { status: 'run' });
  const first = one.acquire('acme', 1, 2);
  const second = one.acquire('acme', 1, 2);
  assert.equal(first.status, 'queued');
  assert.equal(second.status, 'queued');
  assert.deepEqual(two.acquire('acme', 1, 2), { status: 'full' }, 'the queue is shared too');
  assert.equal(two.queued('acme'), 2);
  // The slot passes to the oldest waiter of the thread that frees it.
  assert.equal(one.release('acme'), first.status === 'queued' ? first.ticket : -1);
  assert.equal(one.cancel('acme', second.status === 'queued' ? second.ticket : -1), true);
  assert.equal(two.inflight('acme'), 1);
  assert.equal(one.release('acme'), undefined);
  assert.equal(two.inflight('acme'), 0);
  one.close();
  two.close();
});

test('shared queues: a slot freed in one thread starts a waiter of the other', () => {
  const [a, b] = pair();
  const one = new SharedAccountQueues(a, 0);
  const two = new SharedAccountQueues(b, 1);
  const started: number[] = [];
  two.onReady((ticket) => started.push(ticket));
  assert.deepEqual(one.acquire('acme', 1, 5), { status: 'run' });
  const waiting = two.acquire('acme', 1, 5);
  assert.equal(waiting.status, 'queued');
  two.pollFreed();
  assert.deepEqual(started, [], 'nothing freed yet');
  assert.equal(one.release('acme'), undefined, 'no waiter of its own: the slot is given back');
  two.pollFreed();
  assert.deepEqual(started, [waiting.status === 'queued' ? waiting.ticket : -1]);
  assert.equal(one.inflight('acme'), 1, 'held now by the other thread');
  assert.equal(one.queued('acme'), 0);
  assert.equal(two.release('acme'), undefined);
  assert.equal(a.size(), 0);
  one.close();
  two.close();
});

test('shared slot counter: the IP cap across threads, released once', () => {
  const [a, b] = pair();
  const one = sharedSlotCounter(a, 'ip:', 0);
  const two = sharedSlotCounter(b, 'ip:', 1);
  const release = one.take('192.0.2.1', 2);
  assert.ok(two.take('192.0.2.1', 2));
  assert.equal(one.take('192.0.2.1', 2), undefined);
  release?.();
  release?.();
  assert.equal(two.held('192.0.2.1'), 1);
});

function incident(reference: string): Incident {
  return {
    reference,
    rule: 'ip-block',
    subject: { ip: '192.0.2.7' },
    startedAt: 1_000,
    endedAt: 1_000,
    count: 1,
    counters: {},
    note: undefined,
  };
}

test('a worker thread journals in files of its own lane, replayed alone when it dies', async () => {
  const dir = tempDir();
  const pid = 4_000_003;
  const main = openIncidentJournal(dir, pid);
  const lane0 = openIncidentJournal(dir, pid, 0);
  const lane1 = openIncidentJournal(dir, pid, 1);
  main.append(incident('RL-MAIN-0001'));
  lane0.append(incident('RL-LANE-0001'));
  lane1.append(incident('RL-LANE-1001'));
  lane1.close();
  assert.deepEqual(readdirSync(dir).sort(), [
    `incidents.${pid}-0.1.journal`,
    `incidents.${pid}-1.1.journal`,
    `incidents.${pid}.1.journal`,
  ]);
  const store = new MemoryRecordStore();
  const report = await replayIncidentJournals(dir, store, { pid, lane: 1 });
  assert.deepEqual(report, { files: 1, saved: 1, skipped: 0 });
  assert.ok(await store.getIncident('RL-LANE-1001'));
  assert.equal(await store.getIncident('RL-LANE-0001'), undefined);
  // A new thread on the lane starts a fresh file; the live ones are untouched.
  assert.equal(readdirSync(dir).length, 2);
  main.close();
  lane0.close();
});

test('past the capacity a take is let through but counted as uncounted, for every thread, and reported', () => {
  const a = new SharedCounters({ lanes: 2, stripes: 1, capacity: 2 });
  const b = SharedCounters.attach(a.share());
  const seen: string[] = [];
  b.onUncounted = (namespace) => seen.push(namespace);
  assert.equal(a.take('ip:', '192.0.2.1', 1, 0), true);
  assert.equal(a.take('ip:', '192.0.2.2', 1, 0), true);
  assert.equal(a.uncounted(), 0);
  // The table is full: a third key is let through (failing open), not counted against its cap…
  assert.equal(b.take('run:', 'acme', 1, 1), true);
  assert.equal(b.take('run:', 'acme', 1, 1), true, 'its cap of 1 is not enforced: no row');
  assert.equal(b.held('run:', 'acme'), 0);
  // …but each such take is counted, in shared memory, and reported in the taking thread.
  assert.equal(a.uncounted(), 2);
  assert.equal(b.uncounted(), 2);
  assert.deepEqual(seen, ['run:', 'run:']);
  // A key already held is still counted and capped.
  assert.equal(a.take('ip:', '192.0.2.1', 1, 0), false);
  assert.equal(a.uncounted(), 2);
});
