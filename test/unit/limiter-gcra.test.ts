import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EPSILON_MS, gcraStep } from '../../src/core/limiter/gcra.ts';
import type { GcraParams } from '../../src/core/limiter/types.ts';
import { assertFields, GCRA_VECTORS } from '../contract/limit-store.contract.ts';

for (const [i, vector] of GCRA_VECTORS.entries()) {
  test(`gcra golden #${i}: ${vector.description}`, () => {
    let tat: number | undefined;
    for (const [j, step] of vector.steps.entries()) {
      const out = gcraStep(tat, step.now, step.cost, step.params ?? vector.params);
      assertFields(out.result, step.expect, `step ${j} (now ${step.now}, cost ${step.cost})`);
      tat = out.tat;
    }
  });
}

const P: GcraParams = { emissionMs: 1000, burst: 5, maxDelayMs: 3000, limit: 60, periodMs: 60_000 };

/** Deterministic pseudo-random numbers (a tiny LCG), so failures reproduce. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test('a refusal returns the state it was given, untouched', () => {
  const full = gcraStep(undefined, 0, 5, { ...P, maxDelayMs: 0 });
  const refused = gcraStep(full.tat, 0, 1, { ...P, maxDelayMs: 0 });
  assert.equal(refused.result.allowed, false);
  assert.equal(refused.tat, full.tat);
  assert.equal(gcraStep(undefined, 0, 9, { ...P, maxDelayMs: 0 }).tat, undefined);
});

test('released work never exceeds burst + elapsed / T, whatever the arrival pattern', () => {
  const rnd = random(42);
  let tat: number | undefined;
  let now = 1_000_000;
  const released: { at: number; cost: number }[] = [];
  for (let i = 0; i < 5000; i++) {
    now += Math.floor(rnd() * 700); // faster than 1/s on average: often limited
    const cost = 1 + Math.floor(rnd() * 3);
    const out = gcraStep(tat, now, cost, P);
    tat = out.tat;
    if (out.result.allowed) {
      assert.ok(out.result.delayMs <= P.maxDelayMs, 'never held longer than maxDelayMs');
      released.push({ at: now + out.result.delayMs, cost });
    }
  }
  released.sort((a, b) => a.at - b.at);
  // Check every window [released[i].at, released[j].at].
  for (let i = 0; i < released.length; i += 7) {
    let sum = 0;
    for (let j = i; j < released.length && j < i + 200; j++) {
      sum += released[j].cost;
      const allowance = P.burst + (released[j].at - released[i].at) / P.emissionMs;
      assert.ok(
        sum <= allowance + 1e-9,
        `${sum} units released within ${released[j].at - released[i].at} ms`,
      );
    }
  }
  assert.ok(released.length > 1000, 'the test admitted enough to mean something');
});

test('retryAfterMs is exact: the same request conforms then, and not a millisecond before', () => {
  const rnd = random(7);
  const strict = { ...P, maxDelayMs: 0 };
  let tat: number | undefined;
  let now = 0;
  let checked = 0;
  for (let i = 0; i < 3000; i++) {
    now += Math.floor(rnd() * 400);
    const cost = 1 + Math.floor(rnd() * 3);
    const out = gcraStep(tat, now, cost, strict);
    if (!out.result.allowed) {
      const wait = out.result.retryAfterMs;
      assert.equal(gcraStep(tat, now + wait, cost, strict).result.allowed, true);
      assert.equal(gcraStep(tat, now + wait, cost, strict).result.delayMs, 0);
      assert.equal(gcraStep(tat, now + wait - 1, cost, strict).result.allowed, false);
      checked++;
    }
    tat = out.tat;
  }
  assert.ok(checked > 100);
});

test('remaining counts the units that pass now without delay', () => {
  let tat: number | undefined;
  const strict = { ...P, maxDelayMs: 0 };
  const first = gcraStep(tat, 0, 1, strict);
  tat = first.tat;
  let passed = 1;
  while (gcraStep(tat, 0, 1, strict).result.allowed) {
    tat = gcraStep(tat, 0, 1, strict).tat;
    passed++;
  }
  assert.equal(first.result.remaining, passed - 1);
  assert.equal(passed, P.burst);
});

test('resetMs is the time until the whole burst is back', () => {
  const strict = { ...P, maxDelayMs: 0 };
  let tat: number | undefined;
  for (let i = 0; i < 3; i++) tat = gcraStep(tat, 0, 1, strict).tat;
  const probe = gcraStep(tat, 0, 1, strict).result; // 4th: resetMs 4000
  assert.equal(probe.resetMs, 4000);
  const after = gcraStep(tat, 3000, 1, strict).result; // the 3 taken are back by 3000
  assert.equal(after.remaining, P.burst - 1);
});

test('a rate of zero refuses, and says waiting will not help', () => {
  const zero = { ...P, emissionMs: Number.POSITIVE_INFINITY, limit: 0 };
  const out = gcraStep(undefined, 0, 1, zero);
  assert.equal(out.result.allowed, false);
  assert.equal(out.result.retryAfterMs, 0);
  assert.equal(out.tat, undefined);
});

test('a wait within EPSILON_MS of zero is no delay: the request is not slowed by a rounding', () => {
  // burst 0 and T = ε: the first request's wait is exactly ε.
  const out = gcraStep(undefined, 0, 1, { ...P, emissionMs: EPSILON_MS, burst: 0 });
  assert.equal(out.result.allowed, true);
  assert.equal(out.result.delayMs, 0);
  // With no delay allowed at all, a wait of ε is still "no wait": allowed, not refused.
  const strict = gcraStep(undefined, 0, 1, {
    ...P,
    emissionMs: EPSILON_MS,
    burst: 0,
    maxDelayMs: 0,
  });
  assert.equal(strict.result.allowed, true);
  assert.equal(strict.result.delayMs, 0);
  // Twice ε is a real (tiny) delay.
  assert.equal(
    gcraStep(undefined, 0, 2, { ...P, emissionMs: EPSILON_MS, burst: 0 }).result.delayMs,
    2 * EPSILON_MS,
  );
});

test('retryAfterMs is never negative, even when rounding puts the wait a hair below the unavoidable delay', () => {
  // 7/min (T = 60000/7, not exact in binary), no delay allowed, a request dearer than the
  // burst: wait − unavoidable is −0.0001 ms in floating point at this instant.
  const params = { emissionMs: 60_000 / 7, burst: 2, maxDelayMs: 0, limit: 7, periodMs: 60_000 };
  const out = gcraStep(undefined, 1_767_225_647_514, 3, params);
  assert.equal(out.result.allowed, false);
  assert.equal(out.result.retryAfterMs, 0);
  assert.ok(Object.is(out.result.retryAfterMs, 0));
});

test('remaining is a finite count even for an emission interval of 0', () => {
  const out = gcraStep(undefined, 0, 1, { ...P, emissionMs: 0 });
  assert.equal(out.result.allowed, true);
  assert.equal(out.result.remaining, 0);
});

test('a refusal on a limiter idle since before now says the burst is back already (resetMs 0)', () => {
  // No delay allowed and a request dearer than the burst: refused even on an idle limiter.
  const params = { ...P, maxDelayMs: 0 };
  const out = gcraStep(10_000 - 5_000, 10_000, P.burst + 1, params);
  assert.equal(out.result.allowed, false);
  assert.equal(out.result.resetMs, 0);
  assert.equal(out.result.remaining, P.burst);
  // A state in the future: resetMs runs to it.
  assert.equal(gcraStep(12_000, 10_000, P.burst + 1, params).result.resetMs, 2_000);
});
