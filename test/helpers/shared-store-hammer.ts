/**
 * A worker thread for the shared store's concurrency test (test/unit/shared-limit-store-
 * threads.test.ts): attaches to the store's buffers, waits until every worker is ready,
 * then runs the plan's phases (every worker meets the others at a barrier between phases,
 * so that `now` only moves forward), and posts back how many calls each step admitted.
 *
 * @example
 * new Worker(new URL('../helpers/shared-store-hammer.ts', import.meta.url), { workerData });
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { GcraParams, WindowParams } from '../../src/core/limiter/types.ts';
import {
  SharedLimitStore,
  type SharedLimitStoreBuffers,
} from '../../src/store/shared-limit-store.ts';

export interface HammerStep {
  readonly kind: 'gcra' | 'window';
  readonly namespace: string;
  readonly id: string;
  readonly cost: number;
  readonly params: GcraParams | WindowParams;
}

export interface HammerPlan {
  readonly store: SharedLimitStoreBuffers;
  /** Int32 [arrived]: the barrier the workers meet at before each phase. */
  readonly barrier: SharedArrayBuffer;
  readonly workers: number;
  /** The `now` of each phase. */
  readonly phases: readonly number[];
  readonly steps: readonly HammerStep[];
  /** Times each worker runs all the steps in each phase (interleaved). */
  readonly rounds: number;
}

/** Waits (bounded: 10 s) until `workers × (phase + 1)` arrivals, counting this one. */
function meet(barrier: Int32Array, workers: number, phase: number): void {
  const target = workers * (phase + 1);
  if (Atomics.add(barrier, 0, 1) + 1 === target) {
    Atomics.notify(barrier, 0);
    return;
  }
  const deadline = Date.now() + 10_000;
  for (let seen = Atomics.load(barrier, 0); seen < target; seen = Atomics.load(barrier, 0)) {
    if (Date.now() > deadline) throw new Error(`barrier ${phase}: ${seen} of ${target} arrived`);
    Atomics.wait(barrier, 0, seen, 100);
  }
}

const plan = workerData as HammerPlan;
const store = SharedLimitStore.attach(plan.store);
const barrier = new Int32Array(plan.barrier);
const admitted = plan.phases.map(() => plan.steps.map(() => 0));
plan.phases.forEach((now, p) => {
  meet(barrier, plan.workers, p);
  for (let r = 0; r < plan.rounds; r++) {
    plan.steps.forEach((step, i) => {
      const result =
        step.kind === 'gcra'
          ? store.gcraIn(step.namespace, step.id, now, step.cost, step.params as GcraParams)
          : store.windowIn(step.namespace, step.id, now, step.cost, step.params as WindowParams);
      if (result.allowed) admitted[p][i]++;
    });
  }
});
parentPort!.postMessage(admitted);
