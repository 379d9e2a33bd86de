import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IncidentRuns } from '../../src/core/incident-runs.ts';

const T0 = Date.UTC(2026, 2, 1, 12, 0, 0);
const IP = { ip: '203.0.113.9' };
const COUNTERS = { ipRequests: 201, ipBlock: 200 };

/** References RL-TEST-0001, RL-TEST-0002, … so tests can name them. */
function sequentialReferences() {
  let n = 0;
  return () => `RL-TEST-${String(++n).padStart(4, '0')}`;
}

test('refusals of one subject for one rule within the gap are one incident', () => {
  const runs = new IncidentRuns({ gapMs: 60_000, newReference: sequentialReferences() });
  const a = runs.record('ip-block', IP, T0, COUNTERS);
  const b = runs.record('ip-block', { ip: '203.0.113.9' }, T0 + 59_000, {
    ipRequests: 250,
    ipBlock: 200,
  });
  const c = runs.record('ip-block', IP, T0 + 118_000, COUNTERS);
  assert.equal(a, 'RL-TEST-0001');
  assert.equal(b, a);
  assert.equal(c, a, 'the gap is measured from the last refusal, not the first');
  assert.deepEqual(runs.drain(), [
    {
      reference: a,
      rule: 'ip-block',
      subject: IP,
      startedAt: T0,
      endedAt: T0 + 118_000,
      count: 3,
      // The counters at the start of the incident.
      counters: COUNTERS,
      note: undefined,
    },
  ]);
});

test('a pause longer than the gap starts a new incident', () => {
  const runs = new IncidentRuns({ gapMs: 60_000, newReference: sequentialReferences() });
  const a = runs.record('ip-block', IP, T0, COUNTERS);
  const b = runs.record('ip-block', IP, T0 + 60_001, COUNTERS);
  assert.notEqual(b, a);
  const drained = runs.drain();
  assert.deepEqual(
    drained.map((i) => [i.reference, i.count, i.startedAt]),
    [
      [a, 1, T0],
      [b, 1, T0 + 60_001],
    ],
  );
});

test('a different rule, account, key or IP is a different incident', () => {
  const runs = new IncidentRuns({ newReference: sequentialReferences() });
  const refs = new Set([
    runs.record('account-rate', { accountId: 'acme', keyId: 'K1', ip: '10.0.0.1' }, T0, {}),
    runs.record('account-queue', { accountId: 'acme', keyId: 'K1', ip: '10.0.0.1' }, T0, {}),
    runs.record('account-rate', { accountId: 'beta', keyId: 'K1', ip: '10.0.0.1' }, T0, {}),
    runs.record('account-rate', { accountId: 'acme', keyId: 'K2', ip: '10.0.0.1' }, T0, {}),
    runs.record('account-rate', { accountId: 'acme', keyId: 'K1', ip: '10.0.0.2' }, T0, {}),
    runs.record('account-rate', { accountId: 'acme', keyId: 'K1' }, T0, {}),
  ]);
  assert.equal(refs.size, 6);
  assert.equal(runs.drain().length, 6);
});

test('drain returns only what is new or changed since the last drain', () => {
  const runs = new IncidentRuns({ newReference: sequentialReferences() });
  const a = runs.record('ip-block', IP, T0, COUNTERS);
  runs.record('ip-block', { ip: '198.51.100.1' }, T0, COUNTERS);
  assert.equal(runs.drain(T0).length, 2);
  assert.deepEqual(runs.drain(T0), []);
  runs.record('ip-block', IP, T0 + 5, COUNTERS, 'second note');
  const changed = runs.drain(T0 + 5);
  assert.deepEqual(
    changed.map((i) => [i.reference, i.count, i.note]),
    [[a, 2, 'second note']],
  );
});

test('closed runs are forgotten after they were drained, never before', () => {
  const runs = new IncidentRuns({ gapMs: 1_000, newReference: sequentialReferences() });
  const a = runs.record('ip-block', IP, T0, COUNTERS);
  // Idle past the gap but not drained yet: still held, and its last state is drained.
  assert.equal(runs.drain(T0 + 5_000).length, 1);
  assert.equal(runs.size, 0);
  assert.equal(runs.get(a), undefined);
  // Open runs stay after a drain, and can be looked up.
  const b = runs.record('ip-block', IP, T0 + 6_000, COUNTERS);
  runs.drain(T0 + 6_500);
  assert.equal(runs.size, 1);
  assert.equal(runs.get(b)?.count, 1);
});

test('a run replaced before it was drained is still drained', () => {
  const runs = new IncidentRuns({ gapMs: 1_000, newReference: sequentialReferences() });
  const a = runs.record('ip-block', IP, T0, COUNTERS);
  runs.record('ip-block', IP, T0 + 500, COUNTERS);
  const b = runs.record('ip-block', IP, T0 + 5_000, COUNTERS);
  assert.deepEqual(
    runs.drain().map((i) => [i.reference, i.count]),
    [
      [a, 2],
      [b, 1],
    ],
  );
});

test('memory is bounded: past maxOpen the least recently used runs go, after being drained', () => {
  // maxOpen 10: crossing it lets the least recently used tenth go (here one run).
  const runs = new IncidentRuns({ maxOpen: 10, newReference: sequentialReferences() });
  const ip = (n: number) => ({ ip: `10.0.0.${n}` });
  const first = Array.from({ length: 10 }, (_, n) => runs.record('ip-block', ip(n), T0 + n, {}));
  runs.record('ip-block', ip(0), T0 + 10, {}); // 0 is now the most recently used
  runs.record('ip-block', ip(10), T0 + 11, {}); // the 11th run: 1, the least recently used, goes
  assert.equal(runs.size, 11, 'let go, but held until drained');
  const drained = runs.drain();
  assert.equal(drained.length, 11);
  assert.deepEqual(drained.find((i) => i.subject.ip === '10.0.0.0')?.count, 2);
  assert.equal(runs.size, 10);
  assert.equal(runs.get(first[1]), undefined, 'forgotten after its drain');
  // 0 is still the same run; 1 was let go, so it starts a new incident.
  assert.equal(runs.record('ip-block', ip(0), T0 + 12, {}), first[0]);
  assert.notEqual(runs.record('ip-block', ip(1), T0 + 13, {}), first[1]);

  // A flood of distinct subjects never holds more than maxOpen runs after a drain.
  const many = new IncidentRuns({ maxOpen: 100, newReference: sequentialReferences() });
  let drainedRows = 0;
  for (let i = 0; i < 10_000; i++) {
    many.record('ip-block', { ip: `ip-${i}` }, T0 + i, {});
    assert.ok(many.size <= 100 + 1_000, 'bounded between drains too');
    if (i % 1_000 === 999) drainedRows += many.drain().length;
  }
  assert.ok(many.size <= 100, `held ${many.size}`);
  assert.equal(drainedRows, 10_000, 'every incident was drained once, none lost');
});

test('get finds a run by reference, drained or not', () => {
  const runs = new IncidentRuns({ newReference: sequentialReferences() });
  const a = runs.record(
    'bulk-export',
    { accountId: 'acme' },
    T0,
    { dataset: 'companies' },
    'next export allowed 2026-03-31',
  );
  assert.equal(runs.get(a)?.note, 'next export allowed 2026-03-31');
  runs.drain();
  assert.equal(runs.get(a)?.rule, 'bulk-export');
  assert.equal(runs.get('RL-NOPE-NOPE'), undefined);
});

test('the incident keeps the counters from its start, even if the caller reuses the object', () => {
  const runs = new IncidentRuns({ newReference: sequentialReferences() });
  const counters: Record<string, number> = { ipRequests: 201 };
  runs.record('ip-block', IP, T0, counters);
  counters.ipRequests = 999;
  assert.equal(runs.drain()[0].counters.ipRequests, 201);
});

test('1,000,000 refusals of one subject in one run: one incident, one row, and the cost per refusal', (t) => {
  const runs = new IncidentRuns({ newReference: sequentialReferences() });
  const subject = { accountId: 'acme', keyId: '7KQ4M9XT2B', ip: '203.0.113.9' };
  const counters = { ipRequests: 201, ipBlock: 200 };
  const n = 1_000_000;
  const start = process.hrtime.bigint();
  let reference = '';
  for (let i = 0; i < n; i++) {
    // 1 ms apart: the run spans about 17 minutes, each refusal within the gap of the last.
    reference = runs.record('ip-block', subject, T0 + i, counters);
  }
  const ns = Number(process.hrtime.bigint() - start) / n;
  t.diagnostic(`IncidentRuns.record: ${ns.toFixed(0)} ns per refusal (${n} calls)`);
  const drained = runs.drain();
  assert.equal(drained.length, 1);
  assert.equal(drained[0].reference, reference);
  assert.equal(drained[0].count, n);
  assert.equal(drained[0].endedAt - drained[0].startedAt, n - 1);
  assert.ok(ns < 2_000, `record took ${ns} ns per call`);
});

test('createdLast tells whether a record opened a new incident', () => {
  let n = 0;
  const runs = new IncidentRuns({ gapMs: 1000, newReference: () => `RL-0000-000${n++}` });
  runs.record('ip-block', { ip: '1.2.3.4' }, 0, {});
  assert.equal(runs.createdLast, true);
  runs.record('ip-block', { ip: '1.2.3.4' }, 10, {});
  assert.equal(runs.createdLast, false);
  runs.record('ip-block', { ip: '1.2.3.4' }, 5000, {});
  assert.equal(runs.createdLast, true, 'after the gap, a new incident');
});

test('createdLast is false before anything was recorded', () => {
  const runs = new IncidentRuns({ newReference: sequentialReferences() });
  assert.equal(runs.createdLast, false);
});

test('a refusal exactly gapMs after the last one still joins its run', () => {
  const runs = new IncidentRuns({ gapMs: 60_000, newReference: sequentialReferences() });
  const a = runs.record('ip-block', IP, T0, COUNTERS);
  assert.equal(runs.record('ip-block', IP, T0 + 60_000, COUNTERS), a);
  assert.notEqual(runs.record('ip-block', IP, T0 + 120_001, COUNTERS), a);
});

test('a refusal recorded out of order neither moves the run end back nor the drain time', () => {
  const runs = new IncidentRuns({ gapMs: 60_000, newReference: sequentialReferences() });
  const a = runs.record('ip-block', IP, T0, COUNTERS);
  const b = runs.record('ip-block', { ip: '198.51.100.7' }, T0 + 120_000, COUNTERS);
  // Late: it was counted before the second subject's refusal but reached record after.
  assert.equal(runs.record('ip-block', IP, T0 - 5_000, COUNTERS), a);
  const drained = runs.drain();
  assert.deepEqual(
    drained.map((i) => [i.reference, i.startedAt, i.endedAt, i.count]),
    [
      [b, T0 + 120_000, T0 + 120_000, 1],
      [a, T0, T0, 2], // last used, so last in order
    ],
  );
  // The default drain time is the latest seen (T0 + 120 s): the first run is idle past
  // the gap there, so it is forgotten; the second is kept.
  assert.equal(runs.get(a), undefined);
  assert.equal(runs.get(b)?.count, 1);
});

test('a default drain before any record forgets nothing', () => {
  const runs = new IncidentRuns({ gapMs: 60_000, newReference: sequentialReferences() });
  assert.deepEqual(runs.drain(), []);
  const a = runs.record('ip-block', IP, T0, COUNTERS);
  runs.drain();
  assert.equal(runs.get(a)?.count, 1);
});

test('a note is kept by later refusals that bring none, and replaced by one that does', () => {
  const runs = new IncidentRuns({ newReference: sequentialReferences() });
  const a = runs.record('ip-block', IP, T0, COUNTERS, 'first');
  runs.record('ip-block', IP, T0 + 1, COUNTERS);
  assert.equal(runs.get(a)?.note, 'first');
  runs.record('ip-block', IP, T0 + 2, COUNTERS, 'second');
  assert.equal(runs.get(a)?.note, 'second');
});

test('would-be refusals, would-be delays and real refusals are three incidents', () => {
  const runs = new IncidentRuns({ newReference: sequentialReferences() });
  const refs = new Set([
    runs.record('ip-block', IP, T0, { would: 'refuse' }),
    runs.record('ip-block', IP, T0, { would: 'delay' }),
    runs.record('ip-block', IP, T0, {}),
  ]);
  assert.equal(refs.size, 3);
});

test('an empty account, key id or would counts as none: the incident key joins the fields', () => {
  const runs = new IncidentRuns({ newReference: sequentialReferences() });
  const a = runs.record('ip-block', IP, T0, {});
  assert.equal(runs.record('ip-block', { ...IP, accountId: '' }, T0, {}), a);
  assert.equal(runs.record('ip-block', { ...IP, keyId: '' }, T0, {}), a);
  assert.equal(runs.record('ip-block', IP, T0, { would: '' }), a);
});
