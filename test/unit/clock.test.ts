import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manualClock } from '../../src/core/clock.ts';

test('a manual clock moves only when told, and never backwards', () => {
  const clock = manualClock(1_000);
  assert.equal(clock.now(), 1_000);
  clock.advance(250);
  assert.equal(clock.now(), 1_250);
  assert.throws(() => clock.advance(-1), RangeError);
  clock.set(5);
  assert.equal(clock.now(), 5);
});
