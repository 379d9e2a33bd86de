import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_TIMER_STEP_MS, manualClock, systemClock } from '../../src/core/clock.ts';

test('a manual clock moves only when told, and never backwards', () => {
  const clock = manualClock(1_000);
  assert.equal(clock.now(), 1_000);
  clock.advance(250);
  assert.equal(clock.now(), 1_250);
  assert.throws(() => clock.advance(-1), RangeError);
  clock.set(5);
  assert.equal(clock.now(), 5);
});

test('a manual clock fires timers as it advances, in order of due time, each at its own time', () => {
  const clock = manualClock(0);
  const fired: string[] = [];
  clock.after(300, () => fired.push(`b@${clock.now()}`));
  clock.after(100, () => fired.push(`a@${clock.now()}`));
  clock.after(300, () => fired.push(`c@${clock.now()}`)); // same due time: arming order
  clock.advance(99);
  assert.deepEqual(fired, []);
  clock.advance(1);
  assert.deepEqual(fired, ['a@100']);
  clock.advance(1_000);
  assert.deepEqual(fired, ['a@100', 'b@300', 'c@300']);
  assert.equal(clock.now(), 1_100);
  assert.equal(clock.pending(), 0);
});

test('a cancelled timer never fires; a timer armed by a timer fires within the same advance', () => {
  const clock = manualClock(0);
  const fired: number[] = [];
  const cancel = clock.after(50, () => fired.push(-1));
  clock.after(10, () => clock.after(10, () => fired.push(clock.now())));
  cancel();
  clock.advance(100);
  assert.deepEqual(fired, [20]);
  cancel(); // a second cancel is harmless
});

test('set() forward fires what fell due; set() backward fires nothing', () => {
  const clock = manualClock(1_000);
  const fired: number[] = [];
  clock.after(500, () => fired.push(clock.now()));
  clock.set(900);
  assert.deepEqual(fired, []);
  clock.set(2_000);
  assert.deepEqual(fired, [1_500]);
  assert.equal(clock.now(), 2_000);
});

test('the system clock runs a real timer once and can cancel one', async () => {
  let cancelledRan = false;
  const cancel = systemClock.after(1, () => {
    cancelledRan = true;
  });
  cancel();
  // Waits on the event it tests (the timer firing), bounded, not on a fixed sleep.
  await new Promise<void>((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error('timer did not fire')), 5_000);
    systemClock.after(1, () => {
      clearTimeout(guard);
      resolve();
    });
  });
  assert.equal(cancelledRan, false);
});

test('the system clock holds a wait past 24.8 days in steps that each fit one Node timer', (t) => {
  // Node fires a longer timer after 1 ms: every step armed must fit, and the wait end on time.
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const armed: number[] = [];
  const mocked = globalThis.setTimeout;
  t.mock.method(globalThis, 'setTimeout', (fn: () => void, ms: number) => {
    armed.push(ms);
    return mocked(fn, ms);
  });
  const thirtyDays = 30 * 86_400_000;
  let fired = false;
  systemClock.after(thirtyDays, () => {
    fired = true;
  });
  // Ticked step by step: the mock arms a timer set from a callback relative to the tick's end.
  t.mock.timers.tick(MAX_TIMER_STEP_MS);
  assert.equal(fired, false, 'not when one Node timer would have overflowed');
  t.mock.timers.tick(thirtyDays - MAX_TIMER_STEP_MS - 1);
  assert.equal(fired, false, 'not before its time');
  t.mock.timers.tick(1);
  assert.equal(fired, true);
  assert.deepEqual(armed, [MAX_TIMER_STEP_MS, thirtyDays - MAX_TIMER_STEP_MS]);
});

test('one Node timer step is 2^31 − 1 ms, the longest Node holds', () => {
  assert.equal(MAX_TIMER_STEP_MS, 2_147_483_647);
});

test('a timer due earlier fires first though armed later', () => {
  const clock = manualClock(0);
  const fired: string[] = [];
  clock.after(300, () => fired.push(`late@${clock.now()}`));
  clock.after(100, () => fired.push(`early@${clock.now()}`));
  clock.advance(1_000);
  assert.deepEqual(fired, ['early@100', 'late@300']);
});

test('advance(0) is allowed and fires what is due now; a negative advance says why it is refused', () => {
  const clock = manualClock(10);
  const fired: number[] = [];
  clock.after(0, () => fired.push(clock.now()));
  clock.advance(0);
  assert.deepEqual(fired, [10]);
  assert.throws(() => clock.advance(-1), {
    name: 'RangeError',
    message: 'a clock does not go backwards',
  });
});

test('set() to the present fires the timers due now', () => {
  const clock = manualClock(500);
  const fired: number[] = [];
  clock.after(0, () => fired.push(clock.now()));
  clock.set(500);
  assert.deepEqual(fired, [500]);
  assert.equal(clock.pending(), 0);
});

test('a pending system-clock wait does not keep a process alive', async () => {
  const { spawn } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const clockFile = fileURLToPath(new URL('../../src/core/clock.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { systemClock } from ${JSON.stringify(clockFile)};
       systemClock.after(60_000, () => { process.exitCode = 3; });`,
    ],
    { stdio: 'ignore' },
  );
  // Waits on the child's exit, bounded: a ref'd 60 s timer would hold it past the guard.
  const code = await new Promise<number | null>((resolve, reject) => {
    const guard = setTimeout(() => {
      child.kill();
      reject(new Error('the process was kept alive by a pending wait'));
    }, 10_000);
    child.on('exit', (exitCode) => {
      clearTimeout(guard);
      resolve(exitCode);
    });
  });
  assert.equal(code, 0);
});
