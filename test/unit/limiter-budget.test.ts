import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accountRate, gcraParamsFor } from '../../src/core/limiter/budget.ts';
import type { Plan } from '../../src/core/policy/types.ts';
import { perMinute, STANDARD, TINY } from './helpers/policy-fixture.ts';

// STANDARD: 60/min + 2/min per unit, within 60…600/min.

test('the rate grows with the account size, within the plan bounds', () => {
  assert.deepEqual(accountRate(STANDARD, 0), perMinute(60));
  assert.deepEqual(accountRate(STANDARD, 10), perMinute(80));
  assert.deepEqual(accountRate(STANDARD, 270), perMinute(600));
  assert.deepEqual(accountRate(STANDARD, 271), perMinute(600));
  assert.deepEqual(accountRate(STANDARD, 1e12), perMinute(600));
  assert.deepEqual(accountRate(STANDARD, Number.POSITIVE_INFINITY), perMinute(600));
});

test('negative and NaN sizes count as 0', () => {
  assert.deepEqual(accountRate(STANDARD, -5), perMinute(60));
  assert.deepEqual(accountRate(STANDARD, Number.NaN), perMinute(60));
});

test('the minimum lifts a small account; when min > max, max wins', () => {
  const plan: Plan = { ...STANDARD, base: perMinute(10), min: perMinute(30) };
  assert.equal(accountRate(plan, 0).limit, 30);
  assert.equal(accountRate(plan, 15).limit, 40);
  assert.equal(accountRate({ ...plan, min: perMinute(900) }, 0).limit, 600);
});

test('rates written with other periods are converted to the base period', () => {
  const plan: Plan = {
    ...STANDARD,
    base: { limit: 1, periodMs: 1_000 }, // 1/s
    perUnit: { limit: 60, periodMs: 3_600_000 }, // 60/h = 1/min = 1/60 per s
    min: { limit: 60, periodMs: 60_000 }, // 1/s
    max: { limit: 7_200, periodMs: 3_600_000 }, // 2/s
  };
  assert.deepEqual(accountRate(plan, 0), { limit: 1, periodMs: 1_000 });
  assert.deepEqual(accountRate(plan, 30), { limit: 1.5, periodMs: 1_000 });
  assert.deepEqual(accountRate(plan, 600), { limit: 2, periodMs: 1_000 });
});

test('GCRA parameters follow the rate and the plan', () => {
  const params = gcraParamsFor(perMinute(80), STANDARD, 1234);
  assert.deepEqual(params, {
    emissionMs: 750,
    burst: 5,
    maxDelayMs: 1234,
    limit: 80,
    periodMs: 60_000,
  });
});

test('a plan that does not grow with size gives its base rate even to an unbounded size', () => {
  // TINY: 60/min, +0 per unit. 0 × Infinity would be NaN.
  assert.deepEqual(accountRate(TINY, Number.POSITIVE_INFINITY), perMinute(60));
});

test('a rate already in the base period is taken exactly as written, not converted', () => {
  // 13/7 per hour: (13/7 × 3 600 000) / 3 600 000 is 1.8571428571428574, one ulp off.
  const hour = (limit: number) => ({ limit, periodMs: 3_600_000 });
  const plan: Plan = {
    ...STANDARD,
    base: hour(13 / 7),
    perUnit: hour(0),
    min: hour(1),
    max: hour(100),
  };
  assert.equal(accountRate(plan, 0).limit, 13 / 7);
});
