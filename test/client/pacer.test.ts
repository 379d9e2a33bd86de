/** The client's pacing rules, on given headers and times (no I/O, no sleeping). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Pacer } from '../../packages/client/src/pacer.ts';
import { readLimits, retryAfterMs } from '../../packages/client/src/rate-limit-headers.ts';

const limits = (r: number, extra: Record<string, string> = {}) =>
  new Headers({
    'ratelimit-policy': '"ip";q=200;w=60, "account";q=60;w=60',
    ratelimit: `"ip";r=150;t=20, "account";r=${r};t=5`,
    ...extra,
  });

test('the RateLimit headers are read per policy; Retry-After as seconds or a date', () => {
  assert.deepEqual(readLimits(limits(3)), [
    { policy: 'ip', q: 200, w: 60, r: 150, t: 20 },
    { policy: 'account', q: 60, w: 60, r: 3, t: 5 },
  ]);
  assert.deepEqual(readLimits(new Headers({ 'ratelimit-policy': 'garbage;q=x' })), []);
  assert.equal(retryAfterMs(new Headers({ 'retry-after': '17' }), 0), 17_000);
  assert.equal(
    retryAfterMs(new Headers({ 'retry-after': 'Thu, 01 Jan 1970 00:01:00 GMT' }), 30_000),
    30_000,
  );
  assert.equal(retryAfterMs(new Headers({}), 0), undefined);
});

test('requests go at once while the burst lasts, then one emission interval apart', () => {
  const pacer = new Pacer(1);
  pacer.observe(limits(10), 200);
  pacer.started(1, 0);
  assert.equal(pacer.waitMs(0), 0, 'plenty left: no wait');
  pacer.observe(limits(1), 200);
  pacer.started(1, 0);
  // 60 per 60 s: one a second, with 2 % slack.
  assert.equal(pacer.waitMs(0), 1020);
  pacer.started(5, 1020);
  assert.equal(pacer.waitMs(1020), 5100, 'a request costing 5 takes five intervals');
});

test('a 429 pauses everything, halves the rate and the width; answers not slowed recover it gradually', () => {
  const pacer = new Pacer(4);
  pacer.width = 4;
  pacer.observe(limits(10), 200);
  pacer.refused(60_000, 1_000);
  assert.equal(pacer.waitMs(1_000), 60_000);
  assert.equal(pacer.width, 1);
  assert.equal(pacer.factor, 0.5);
  pacer.started(1, 61_000);
  // Below full rate every request is paced, burst or not: 1 s / 0.5.
  assert.equal(pacer.waitMs(61_000), 2_040);
  const factors: number[] = [];
  for (let i = 0; i < 30; i++) {
    pacer.observe(limits(10), 200);
    factors.push(pacer.factor);
  }
  assert.ok(factors[0] < 0.6, `gradual, not at once: ${factors[0]}`);
  assert.ok(factors.every((f, i) => i === 0 || f >= factors[i - 1]));
  assert.equal(factors.at(-1), 1);
});

test('slowed answers (Sluice-Delay-Ms) halve the width; it grows back by one per 20 calm answers, never past the maximum', () => {
  const pacer = new Pacer(4);
  pacer.width = 4;
  pacer.observe(limits(10, { 'sluice-delay-ms': '250' }), 200);
  assert.equal(pacer.width, 2);
  pacer.observe(limits(10, { 'sluice-delay-ms': '250' }), 200);
  assert.equal(pacer.width, 1);
  for (let i = 0; i < 19; i++) pacer.observe(limits(10), 200);
  assert.equal(pacer.width, 1);
  pacer.observe(limits(10), 200);
  assert.equal(pacer.width, 2);
  for (let i = 0; i < 200; i++) pacer.observe(limits(10), 200);
  assert.equal(pacer.width, 4);
});
