import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manualClock } from '../../src/core/clock.ts';
import { createLoginThrottle, LOGIN_THROTTLE } from '../../src/core/login-throttle.ts';

test('the 10th failed login within a minute locks the IP out for 5 minutes', () => {
  const clock = manualClock(1_000_000);
  const throttle = createLoginThrottle({ clock });
  assert.deepEqual(LOGIN_THROTTLE, { maxFailures: 10, windowMs: 60_000, lockoutMs: 300_000 });
  for (let i = 1; i <= 9; i++) {
    assert.deepEqual(throttle.check('192.0.2.1'), { allowed: true });
    assert.deepEqual(throttle.fail('192.0.2.1'), { failures: i, locked: false });
    clock.advance(5_000);
  }
  assert.deepEqual(throttle.fail('192.0.2.1'), { failures: 10, locked: true });
  assert.deepEqual(throttle.check('192.0.2.1'), { allowed: false, retryAfterMs: 300_000 });
  assert.deepEqual(throttle.check('192.0.2.2'), { allowed: true }, 'per IP');
  clock.advance(299_999);
  assert.deepEqual(throttle.check('192.0.2.1'), { allowed: false, retryAfterMs: 1 });
  clock.advance(1);
  assert.deepEqual(throttle.check('192.0.2.1'), { allowed: true });
  assert.deepEqual(throttle.fail('192.0.2.1'), { failures: 1, locked: false }, 'counting anew');
});

test('failures spread wider than the window never lock out; a success forgets them', () => {
  const clock = manualClock(0);
  const throttle = createLoginThrottle({ clock });
  for (let i = 0; i < 30; i++) {
    assert.equal(throttle.fail('198.51.100.4').locked, false, `failure ${i}`);
    clock.advance(7_000); // 9 per minute at most
  }
  for (let i = 0; i < 9; i++) throttle.fail('198.51.100.5');
  throttle.succeed('198.51.100.5');
  assert.deepEqual(throttle.fail('198.51.100.5'), { failures: 1, locked: false });
});

test('memory stays bounded under failures from many IPs', () => {
  const clock = manualClock(0);
  const throttle = createLoginThrottle({ clock, maxTracked: 100 });
  for (let i = 0; i < 10_000; i++) throttle.fail(`10.0.${i >> 8}.${i & 255}`);
  assert.ok(throttle.tracked() <= 100);
});

test('a failure exactly a window after the first starts counting anew', () => {
  const clock = manualClock(0);
  const throttle = createLoginThrottle({ clock });
  for (let i = 1; i <= 9; i++) throttle.fail('192.0.2.7');
  clock.advance(LOGIN_THROTTLE.windowMs);
  assert.deepEqual(throttle.fail('192.0.2.7'), { failures: 1, locked: false });
});

test('a failure during a lockout neither ends it nor starts another', () => {
  const clock = manualClock(0);
  const throttle = createLoginThrottle({ clock });
  for (let i = 1; i <= 10; i++) throttle.fail('192.0.2.8');
  clock.advance(10_000);
  assert.deepEqual(throttle.fail('192.0.2.8'), { failures: 11, locked: false });
  assert.deepEqual(throttle.check('192.0.2.8'), { allowed: false, retryAfterMs: 290_000 });
});
