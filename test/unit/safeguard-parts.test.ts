import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SafeguardRule } from '../../src/core/policy/types.ts';
import { BoundedMap } from '../../src/core/safeguard/bounded-map.ts';
import {
  escalate,
  FALLBACK_DURATION_MS,
  isForgotten,
  type OffenceRecord,
} from '../../src/core/safeguard/escalation.ts';
import { addOne, newCount } from '../../src/core/safeguard/sliding-count.ts';
import { MemoryTally, type TallyStep } from '../../src/core/safeguard/tally.ts';
import { humanDuration, ordinal } from '../../src/words/safeguard.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function rule(over: Partial<SafeguardRule> = {}): SafeguardRule {
  return {
    enabled: true,
    dryRun: false,
    threshold: 10,
    windowMs: 60_000,
    action: 'suspend',
    durationsMs: [HOUR, DAY],
    revokeAfter: undefined,
    ...over,
  };
}

test('sliding count: buckets of window/n, old buckets emptied as the window slides', () => {
  const c = newCount(60_000, 30);
  assert.equal(c.bucketMs, 2_000);
  assert.equal(addOne(c, 0), 1);
  assert.equal(addOne(c, 1_999), 2);
  assert.equal(addOne(c, 30_000), 3);
  assert.equal(addOne(c, 59_999), 4);
  // 60 000 starts bucket 30, which reuses bucket 0's slot: the first two fall out.
  assert.equal(addOne(c, 60_000), 3);
  assert.equal(addOne(c, 89_999), 4); // 30 000 is 59 999 ms old: still in
  assert.equal(addOne(c, 90_000), 4); // now it is a full window old: out, this one in
  // A long pause empties everything.
  assert.equal(addOne(c, 10 * 60_000), 1);
  // A clock that steps back counts into the newest bucket rather than losing it.
  assert.equal(addOne(c, 5 * 60_000), 2);
});

test('sliding count: short windows get fewer buckets, never wider than the window', () => {
  const c = newCount(10, 30);
  assert.equal(c.n, 10);
  assert.equal(c.bucketMs, 1);
  const d = newCount(59_999, 30); // 1999.9 ms rounded down: 30 × 1999 ≤ 59 999
  assert.ok(d.bucketMs * d.n <= 59_999);
});

test('sliding count: a fresh start after a pause forgets the old buckets', () => {
  const c = newCount(60_000, 30); // buckets of 2 s
  addOne(c, 0);
  addOne(c, 2_000); // a second bucket: the per-bucket counts now exist
  assert.equal(addOne(c, 600_000), 1); // everything is out of the window: start afresh
  // Sliding into the next bucket empties the slot the old 2 000 sat in: had the fresh
  // start kept it, this would subtract it from the new total.
  assert.equal(addOne(c, 602_000), 2);
  assert.equal(addOne(c, 604_000), 3);
});

test('sliding count: the last observation is the latest time seen, even when the clock steps back', () => {
  const c = newCount(60_000, 30);
  addOne(c, 5_000);
  assert.equal(c.lastAt, 5_000);
  addOne(c, 3_000);
  assert.equal(c.lastAt, 5_000);
  addOne(c, 7_000);
  assert.equal(c.lastAt, 7_000);
});

test('sliding count: a window shorter than a millisecond still has one bucket of 1 ms', () => {
  const c = newCount(0.5, 30);
  assert.equal(c.n, 1);
  assert.equal(c.bucketMs, 1);
  assert.equal(addOne(c, 0), 1);
  assert.equal(addOne(c, 0.9), 2);
  assert.equal(addOne(c, 1), 1);
});

test('sliding count: a steady stream of one per bucket counts n, however long it runs', () => {
  const c = newCount(60_000, 30); // buckets of 2 s
  for (let i = 0; i < 29; i++) addOne(c, i * 2_000);
  // From then on the window always holds the last 30 buckets: 30 observations.
  for (let i = 29; i < 200; i++) assert.equal(addOne(c, i * 2_000), 30, `bucket ${i}`);
});

test('sliding count: no per-bucket array while every observation sits in one bucket', () => {
  const c = newCount(60_000, 30);
  addOne(c, 5_000); // a first observation early in the epoch
  assert.equal(c.buckets, undefined);
  const d = newCount(60_000, 30);
  const t = 1_767_225_600_000;
  addOne(d, t);
  addOne(d, t + 1_999); // the same bucket
  assert.equal(d.buckets, undefined);
  // A window later (30 buckets on), the first is out: a fresh start, still no array.
  assert.equal(addOne(d, t + 60_000), 1);
  assert.equal(d.buckets, undefined);
  assert.equal(addOne(d, t + 62_000), 2); // a second bucket: now it needs one
  assert.notEqual(d.buckets, undefined);
});

test('sliding count: a fractional window shorter than the buckets asked for gets whole buckets', () => {
  const c = newCount(10.5, 30);
  assert.equal(c.n, 10);
  assert.equal(c.bucketMs, 1);
});

test('escalation history: forgotten once historyMs has passed since the last offence and nothing is served', () => {
  const r: OffenceRecord = { count: 2, lastAt: 1_000, quietUntil: 5_000, ipBlockUntil: 0 };
  assert.equal(isForgotten(r, 1_000 + DAY - 1, DAY), false);
  assert.equal(isForgotten(r, 1_000 + DAY, DAY), true);
  // Still serving a block longer than the history: remembered until it ends.
  const serving = { ...r, quietUntil: 1_000 + 2 * DAY };
  assert.equal(isForgotten(serving, 1_000 + DAY, DAY), false);
  assert.equal(isForgotten(serving, 1_000 + 2 * DAY - 1, DAY), false);
  assert.equal(isForgotten(serving, 1_000 + 2 * DAY, DAY), true);
});

test('bounded map: writes move to the end; the cap drops the oldest; sweep stops at the first live', () => {
  const m = new BoundedMap<number>(3);
  m.set('a', 1);
  m.set('b', 2);
  m.set('c', 3);
  m.set('a', 4); // a is now the newest
  m.set('d', 5); // drops b
  assert.deepEqual([...m.values()], [3, 4, 5]);
  assert.equal(m.get('b'), undefined);
  m.sweep((v) => v !== 4); // drops c (3), stops at a (4) even though d would match
  assert.deepEqual([...m.values()], [4, 5]);
  assert.throws(() => new BoundedMap(0), RangeError);
  assert.throws(() => new BoundedMap(1.5), {
    name: 'RangeError',
    message: 'cap must be ≥ 1, got 1.5',
  });
});

test('escalate: durations by offence, last one repeats; revokeAfter on keys only', () => {
  const r = rule({ revokeAfter: 3 });
  assert.deepEqual(escalate(r, 'key', 1), { kind: 'suspend', durationMs: HOUR });
  assert.deepEqual(escalate(r, 'key', 2), { kind: 'suspend', durationMs: DAY });
  assert.deepEqual(escalate(r, 'key', 3), { kind: 'revoke', durationMs: undefined });
  assert.deepEqual(escalate(r, 'ip', 3), { kind: 'block-ip', durationMs: DAY });
  assert.deepEqual(escalate(rule(), 'key', 9), { kind: 'suspend', durationMs: DAY });
  assert.deepEqual(escalate(rule({ action: 'revoke', durationsMs: [] }), 'key', 1), {
    kind: 'revoke',
    durationMs: undefined,
  });
  assert.deepEqual(escalate(rule({ action: 'revoke', durationsMs: [] }), 'ip', 1), {
    kind: 'block-ip',
    durationMs: FALLBACK_DURATION_MS,
  });
});

test('words: durations in the largest exact unit, ordinals', () => {
  assert.equal(humanDuration(60_000), '1 minute');
  assert.equal(humanDuration(90_000), '90 seconds');
  assert.equal(humanDuration(7 * DAY), '1 week');
  assert.equal(humanDuration(2 * DAY), '2 days');
  assert.equal(humanDuration(1_500), '1500 ms');
  assert.deepEqual([1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111].map(ordinal), [
    '1st',
    '2nd',
    '3rd',
    '4th',
    '11th',
    '12th',
    '13th',
    '21st',
    '22nd',
    '101st',
    '111th',
  ]);
});

/** A rule of threshold 2 in a minute, offences remembered a day, quiet for `quietMs`. */
function step(now: number, quietMs: number[] = [HOUR], blockIp = false): TallyStep {
  return { now, windowMs: 60_000, buckets: 30, threshold: 2, historyMs: DAY, quietMs, blockIp };
}

/** Two observations: one crossing of threshold 2. */
function offend(t: MemoryTally, subject: string, now: number, quietMs?: number[], blockIp = false) {
  t.add('afterAuthFailure', subject, step(now, quietMs, blockIp));
  return t.add('afterAuthFailure', subject, step(now, quietMs, blockIp));
}

test('tally: a rule with no quiet time (revoke) still forgets offences after the history', () => {
  const t = new MemoryTally({ maxSubjects: 100, maxOffenders: 100 });
  assert.deepEqual(offend(t, 'k:a', 0, []), { total: 2, offence: 1 });
  assert.deepEqual(offend(t, 'k:a', 1_000, []), { total: 2, offence: 2 });
  assert.deepEqual(offend(t, 'k:a', 1_000 + DAY, []), { total: 2, offence: 1 });
});

test('tally: forgotten offenders are dropped, and one hidden behind a longer block is still forgotten', () => {
  const t = new MemoryTally({ maxSubjects: 100, maxOffenders: 100 });
  offend(t, 'k:long', 0, [10 * DAY]); // quiet for 10 days: remembered that long
  offend(t, 'k:short', 1_000, [0]);
  assert.equal(t.size().offenders, 2);
  // A day later the short one's history is over, but it sits behind the long one.
  assert.deepEqual(offend(t, 'k:short', 1_000 + DAY, [0]), { total: 2, offence: 1 });
  // Eleven days on both are forgotten; the next observation of anyone drops them.
  t.add('afterAuthFailure', 'k:other', step(11 * DAY + 2_000));
  assert.equal(t.size().offenders, 0);
});

test('tally: forgiving a subject restarts its count', () => {
  const t = new MemoryTally({ maxSubjects: 100, maxOffenders: 100 });
  t.add('afterAuthFailure', 'i:192.0.2.1', step(0));
  t.forgive(['i:192.0.2.1'], false);
  assert.deepEqual(t.add('afterAuthFailure', 'i:192.0.2.1', step(1_000)), { total: 1, offence: 0 });
});

test('tally: an IP blocked by two rules is blocked until the later end', () => {
  const t = new MemoryTally({ maxSubjects: 100, maxOffenders: 100 });
  const ip = 'i:192.0.2.1';
  t.add('afterAuthFailure', ip, step(0, [DAY], true));
  t.add('afterAuthFailure', ip, step(0, [DAY], true));
  t.add('ignoring429', ip, step(0, [HOUR], true));
  t.add('ignoring429', ip, step(0, [HOUR], true));
  assert.equal(t.ipBlockedUntil(ip, 1), DAY);
});

test('bounded map: a cap of 1 keeps the newest entry; a cap must be a whole number', () => {
  const m = new BoundedMap<number>(1);
  m.set('a', 1);
  m.set('b', 2);
  assert.deepEqual([...m.values()], [2]);
  assert.throws(() => new BoundedMap(1.5), RangeError);
});
