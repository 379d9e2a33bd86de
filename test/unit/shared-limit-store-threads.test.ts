/**
 * Threads hammering the same keys of one SharedLimitStore admit exactly what one thread
 * admits for the same calls (no lost update), checked against the pure maths: real worker
 * threads (test/helpers/shared-store-hammer.ts), fixed `now` per phase, a barrier between
 * phases. Bounded: a few thousand calls per worker, a 20 s timeout.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { gcraStep } from '../../src/core/limiter/gcra.ts';
import { type WindowState, windowStep } from '../../src/core/limiter/sliding-window.ts';
import type { GcraParams, WindowParams } from '../../src/core/limiter/types.ts';
import { SharedLimitStore } from '../../src/store/shared-limit-store.ts';
import type { HammerPlan, HammerStep } from '../helpers/shared-store-hammer.ts';

const T0 = 1_767_225_600_000;
const PHASES = [T0, T0 + 61_000, T0 + 122_500];
const ROUNDS = 1_500;
const STEPS: HammerStep[] = [
  { kind: 'gcra', namespace: 'acct:', id: 'acme', cost: 1, params: gcra(100, 40, 0) },
  // Slowed, not refused, up to 5 s of delay: admitted = burst + 5000 / 100.
  { kind: 'gcra', namespace: 'acct:', id: 'slow', cost: 1, params: gcra(100, 10, 5_000) },
  { kind: 'window', namespace: 'ip:', id: '203.0.113.9', cost: 1, params: win(60_000, 700) },
  { kind: 'window', namespace: 'ip:', id: '2001:db8::1', cost: 2, params: win(60_000, 901) },
];

function gcra(emissionMs: number, burst: number, maxDelayMs: number): GcraParams {
  return { emissionMs, burst, maxDelayMs, limit: 600, periodMs: 60_000 };
}

function win(periodMs: number, block: number): WindowParams {
  return { periodMs, warn: block, block };
}

/** What one thread admits for `calls` calls of each step per phase, by the pure maths. */
function expected(calls: number): number[][] {
  const tats: (number | undefined)[] = STEPS.map(() => undefined);
  const windows: (WindowState | undefined)[] = STEPS.map(() => undefined);
  return PHASES.map((now) =>
    STEPS.map((step, i) => {
      let admitted = 0;
      for (let c = 0; c < calls; c++) {
        if (step.kind === 'gcra') {
          const r = gcraStep(tats[i], now, step.cost, step.params as GcraParams);
          tats[i] = r.tat;
          if (r.result.allowed) admitted++;
        } else {
          const r = windowStep(windows[i], now, step.cost, step.params as WindowParams);
          windows[i] = r.state;
          if (r.result.allowed) admitted++;
        }
      }
      return admitted;
    }),
  );
}

async function hammer(workers: number): Promise<number[][]> {
  const store = new SharedLimitStore({ maxKeys: 10_000, stripes: 2 });
  const plan: HammerPlan = {
    store: store.share(),
    barrier: new SharedArrayBuffer(4),
    workers,
    phases: PHASES,
    steps: STEPS,
    rounds: ROUNDS,
  };
  const url = new URL('../helpers/shared-store-hammer.ts', import.meta.url);
  const results = await Promise.all(
    Array.from({ length: workers }, () => {
      const worker = new Worker(url, { workerData: plan });
      return new Promise<number[][]>((resolve, reject) => {
        // Bounded: a worker stuck (a table corrupted by a lost update can loop) is stopped.
        const timer = setTimeout(() => reject(new Error('worker did not finish in 10 s')), 10_000);
        worker.once('message', (m) => {
          clearTimeout(timer);
          resolve(m);
        });
        worker.once('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        worker.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
      }).finally(() => worker.terminate());
    }),
  );
  const total = PHASES.map((_, p) => STEPS.map((_, i) => 0 + sum(results.map((r) => r[p][i]))));
  assert.equal(store.size(), STEPS.length, 'one key per step, none lost or doubled');
  return total;
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

for (const workers of [2, 4]) {
  test(`${workers} threads on the shared store admit exactly what one thread would`, {
    timeout: 20_000,
  }, async () => {
    const want = expected(workers * ROUNDS);
    // The plan must be one where a lost update would show: every step refuses some calls.
    for (const row of want)
      for (const n of row) assert.ok(n > 0 && n < workers * ROUNDS, `${want}`);
    const got = await hammer(workers);
    PHASES.forEach((now, p) => {
      STEPS.forEach((step, i) => {
        assert.equal(
          got[p][i],
          want[p][i],
          `phase ${p} (now ${now}), ${step.kind} ${step.namespace}${step.id}`,
        );
      });
    });
  });
}
