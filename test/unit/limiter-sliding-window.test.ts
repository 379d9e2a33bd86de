import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  NEVER_WARNED,
  type WindowState,
  windowStep,
} from '../../src/core/limiter/sliding-window.ts';
import type { WindowResult } from '../../src/core/limiter/types.ts';
import { assertFields, WINDOW_VECTORS } from '../contract/limit-store.contract.ts';

for (const [i, vector] of WINDOW_VECTORS.entries()) {
  test(`window golden #${i}: ${vector.description}`, () => {
    let state: WindowState | undefined;
    for (const [j, step] of vector.steps.entries()) {
      const out = windowStep(state, step.now, step.cost, step.params ?? vector.params);
      assertFields(out.result, step.expect, `step ${j} (now ${step.now}, cost ${step.cost})`);
      state = out.state;
    }
  });
}

const MIN = 60_000;
const T0 = 1_767_225_600_000; // a minute boundary
const DEFAULT = { periodMs: MIN, warn: 100, block: 200 };

/** `count` requests of cost 1 at times `at(i)`, from an empty state. */
function run(count: number, at: (i: number) => number) {
  let state: WindowState | undefined;
  let last: WindowResult | undefined;
  for (let i = 0; i < count; i++) {
    const out = windowStep(state, at(i), 1, DEFAULT);
    state = out.state;
    last = out.result;
  }
  return { state, last: last! };
}

test('200 requests in a minute pass; the 201st is refused, and refused again until the wait is over', () => {
  const { state, last } = run(200, (i) => T0 + i * 100);
  assert.equal(last.allowed, true);
  assert.equal(last.count, 200);
  assert.equal(last.remaining, 0);
  const over = windowStep(state, T0 + 20_000, 1, DEFAULT);
  assert.equal(over.result.allowed, false);
  assert.equal(over.state, state, 'a refusal returns the state untouched');
  // All 200 sit in the window starting at T0; they must decay to 199 after the rollover:
  // 200 × (1 − e/60000) ≤ 199  ⇔  e ≥ 300 ms into the next window.
  assert.equal(over.result.retryAfterMs, MIN + 300 - 20_000);
  const at = T0 + 20_000 + over.result.retryAfterMs;
  assert.equal(windowStep(state, at - 1, 1, DEFAULT).result.allowed, false);
  assert.equal(windowStep(state, at, 1, DEFAULT).result.allowed, true);
});

test('the warning is reported once per fixed window, on the first request over it', () => {
  const reports: number[] = [];
  let state: WindowState | undefined;
  for (let i = 0; i < 150; i++) {
    const out = windowStep(state, T0 + i, 1, DEFAULT);
    if (out.result.warnFirst) reports.push(out.result.count);
    assert.equal(out.result.warn, out.result.count > 100);
    state = out.state;
  }
  assert.deepEqual(reports, [101]);
  // Next window: 150 × (1 − 0.5) = 75 carried over, so the 26th request warns again, once.
  for (let i = 0; i < 40; i++) {
    const out = windowStep(state, T0 + MIN + MIN / 2, 1, DEFAULT);
    if (out.result.warnFirst) reports.push(out.result.count);
    state = out.state;
  }
  assert.deepEqual(reports, [101, 101]);
});

test('at a window boundary, the previous window still weighs in full', () => {
  const { state } = run(150, () => T0 + MIN - 1);
  const at = windowStep(state, T0 + MIN, 50, DEFAULT);
  assert.equal(at.result.allowed, true);
  assert.equal(at.result.count, 200);
  assert.equal(windowStep(at.state, T0 + MIN, 1, DEFAULT).result.allowed, false);
  assert.equal(at.state?.start, T0 + MIN);
  assert.equal(at.state?.prev, 150);
  assert.equal(at.state?.curr, 50);
});

test('after two windows the old counts are gone, and so is the warning mark', () => {
  const { state } = run(200, () => T0);
  assert.equal(state?.warnedStart, T0);
  const later = windowStep(state, T0 + 2 * MIN, 1, DEFAULT);
  assert.equal(later.result.count, 1);
  assert.equal(later.result.remaining, 199);
  assert.deepEqual(later.state, { start: T0 + 2 * MIN, prev: 0, curr: 1, warnedStart: T0 });
});

test('retryAfterMs is exact for random states, inside the window and across the rollover', () => {
  let seed = 12345;
  const rnd = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  const params = { periodMs: 10_000, warn: 20, block: 30 };
  let checked = 0;
  for (let i = 0; i < 2000; i++) {
    const start = T0 + Math.floor(rnd() * 100) * 10_000;
    const state: WindowState = {
      start,
      prev: Math.floor(rnd() * 40),
      curr: Math.floor(rnd() * 32),
      warnedStart: NEVER_WARNED,
    };
    const now = start + Math.floor(rnd() * 10_000);
    const cost = 1 + Math.floor(rnd() * 4);
    const out = windowStep(state, now, cost, params);
    if (out.result.allowed || out.result.retryAfterMs === 0) continue;
    const at = now + out.result.retryAfterMs;
    assert.equal(
      windowStep(state, at, cost, params).result.allowed,
      true,
      JSON.stringify({ state, now, cost }),
    );
    assert.equal(
      windowStep(state, at - 1, cost, params).result.allowed,
      false,
      JSON.stringify({ state, now, cost }),
    );
    checked++;
  }
  assert.ok(checked > 300, `only ${checked} refusals checked`);
});

test('resetMs runs to the end of the next window while this window has counts', () => {
  const one = windowStep(undefined, T0 + 10_000, 1, DEFAULT);
  assert.equal(one.result.resetMs, 2 * MIN - 10_000);
  // Next window, nothing new: only prev remains, gone at the end of this window.
  const next = windowStep(one.state, T0 + MIN + 5_000, 300, DEFAULT); // refused: too big
  assert.equal(next.result.allowed, false);
  assert.equal(next.result.resetMs, MIN - 5_000);
});

test('a request costing exactly the block waits until the previous window has decayed away', () => {
  const params = { periodMs: MIN, warn: 2, block: 3 };
  const first = windowStep(undefined, T0, 1, params);
  // Next window: prev 1 still weighs (1 − 100/60000), so cost 3 is over block 3.
  const out = windowStep(first.state, T0 + MIN + 100, 3, params);
  assert.equal(out.result.allowed, false);
  // Not "waiting will not help" (0): the request fits once prev has gone, at the rollover.
  assert.equal(out.result.retryAfterMs, MIN - 100);
  assert.equal(windowStep(first.state, T0 + 2 * MIN, 3, params).result.allowed, true);
  // Dearer than the block: waiting will not help.
  assert.equal(windowStep(first.state, T0 + MIN + 100, 4, params).result.retryAfterMs, 0);
});

test('retryAfterMs is rounded up to a whole ms, never telling a client to come back early', () => {
  const { state } = run(200, (i) => T0 + i * 100);
  const over = windowStep(state, T0 + 20_000.5, 1, DEFAULT);
  assert.equal(over.result.retryAfterMs, MIN + 300 - 20_000); // 40 299.5 ms, rounded up
});

test('a clock behind the state (skew between nodes) counts as the start of its window', () => {
  const { state } = run(150, () => T0); // 150 in the window at T0
  const next = windowStep(state, T0 + MIN, 10, DEFAULT); // prev 150, curr 10
  // A node whose clock is a second behind: still weighed as at T0 + MIN, not before it.
  const skewed = windowStep(next.state, T0 + MIN - 1_000, 1, DEFAULT);
  assert.equal(skewed.result.allowed, true);
  assert.equal(skewed.result.count, 161);
  assert.equal(skewed.state?.start, T0 + MIN);
  assert.equal(skewed.state?.curr, 11);
});

test('a state that never warned warns on its first request over, whatever the window start', () => {
  // 1 ms windows start at every ms, 1 included: NEVER_WARNED must be no window start.
  const params = { periodMs: 1, warn: 0, block: 5 };
  const out = windowStep(undefined, 1, 1, params);
  assert.equal(out.result.warn, true);
  assert.equal(out.result.warnFirst, true);
  assert.equal(out.state?.warnedStart, 1);
});

test('remaining is 0, never negative, when the estimate is already over the block', () => {
  // 250 counted under an earlier, larger block; the policy now blocks at 200.
  const state: WindowState = { start: T0, prev: 0, curr: 250, warnedStart: T0 };
  const out = windowStep(state, T0 + 1_000, 1, DEFAULT);
  assert.equal(out.result.allowed, false);
  assert.equal(out.result.count, 250);
  assert.equal(out.result.remaining, 0);
});
