/**
 * The cost of sharing limiter state between threads: decisions per second per thread with
 * 1, 2 and 4 worker threads contending on one SharedLimitStore, against the memory store
 * on one thread. One decision = one per-IP window + one per-account GCRA check (as the
 * engine makes), all allowed, over the same KEYS keys in every thread (reused strings, as
 * the gateway passes them), in a scattered order, so that threads meet on the same stripes
 * and rows.
 *
 * Every row runs in fresh worker threads for `--seconds` (bounded), and the rows take
 * turns for `--rounds` rounds, so that a noisy, shared machine affects them alike; the
 * table gives each row's median and the median of the per-round ratios.
 *
 *   node bench/shared-table.ts                          # 3 rounds of 2 s per row
 *   node bench/shared-table.ts --rounds 5 --seconds 3
 *   node bench/shared-table.ts --lockstep               # every thread on the same key at once
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { LimitStore } from '../src/core/limiter/types.ts';
import { MemoryLimitStore } from '../src/store/memory-limit-store.ts';
import { SharedLimitStore, type SharedLimitStoreBuffers } from '../src/store/shared-limit-store.ts';

const KEYS = 10_000;
const T0 = 1_767_225_600_000;
const GCRA = { emissionMs: 60_000 / 1e9, burst: 1e9, maxDelayMs: 0, limit: 1e9, periodMs: 60_000 };
const WINDOW = { periodMs: 60_000, warn: 1e15, block: 1e15 };

interface Job {
  readonly store: SharedLimitStoreBuffers | 'memory';
  readonly ms: number;
  readonly start: SharedArrayBuffer;
  readonly index: number;
  readonly threads: number;
  readonly lockstep: boolean;
}

/** In a worker: decisions until `ms` have passed after the start signal; posts the rate. */
function work(job: Job): void {
  const store: LimitStore =
    job.store === 'memory' ? new MemoryLimitStore() : SharedLimitStore.attach(job.store);
  const ips = Array.from({ length: KEYS }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
  const accounts = Array.from({ length: KEYS }, (_, i) => `acct-${i}`);
  const start = new Int32Array(job.start);
  Atomics.wait(start, 0, 0, 10_000); // all workers begin together
  const began = performance.now();
  const cpu = process.threadCpuUsage();
  const until = began + job.ms;
  let decisions = 0;
  // Each thread starts at its own place in the same scattered order: the same keys, not
  // the same key at the same moment (that worst case: --lockstep).
  let k = job.lockstep ? 0 : Math.floor((job.index * KEYS) / job.threads);
  for (let batch = 0; batch < 1e9 && performance.now() < until; batch++) {
    for (let i = 0; i < 1000; i++) {
      k = (k + 7919) % KEYS; // scattered
      const now = T0 + decisions;
      store.windowIn!('ip:', ips[k], now, 1, WINDOW);
      store.gcraIn!('acct:', accounts[k], now, 1, GCRA);
      decisions++;
    }
  }
  const used = process.threadCpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  parentPort!.postMessage([
    decisions / ((performance.now() - began) / 1000),
    decisions / cpuSeconds,
  ]);
}

/**
 * One row: `threads` workers on one store; their decisions per second of wall time and per
 * second of their own CPU time, per thread (means). The second is the cost of sharing
 * without the noise of threads waiting for a core on a busy machine.
 */
async function row(
  kind: 'memory' | 'shared',
  threads: number,
  ms: number,
  lockstep: boolean,
): Promise<[number, number]> {
  const shared = kind === 'shared' ? new SharedLimitStore().share() : 'memory';
  const start = new SharedArrayBuffer(4);
  const workers = Array.from(
    { length: threads },
    (_, index) =>
      new Worker(new URL(import.meta.url), {
        workerData: { store: shared, ms, start, index, threads, lockstep } satisfies Job,
      }),
  );
  const rates = workers.map(
    (w) =>
      new Promise<[number, number]>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      }),
  );
  await new Promise((r) => setTimeout(r, 300)); // let them build their keys
  Atomics.store(new Int32Array(start), 0, 1);
  Atomics.notify(new Int32Array(start), 0);
  const got = await Promise.all(rates);
  await Promise.all(workers.map((w) => w.terminate()));
  const mean = (j: number) => got.reduce((a, b) => a + b[j], 0) / got.length;
  return [mean(0), mean(1)];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const arg = (name: string, fallback: number): number => {
    const i = process.argv.indexOf(`--${name}`);
    return i < 0 ? fallback : Number(process.argv[i + 1]);
  };
  const lockstep = process.argv.includes('--lockstep');
  const rounds = Math.min(20, Math.max(1, arg('rounds', 3)));
  const ms = Math.min(10_000, Math.max(200, arg('seconds', 2) * 1000));
  const rows = [
    ['memory', 1],
    ['shared', 1],
    // Two threads with a memory store each (nothing shared): what two threads get on this
    // machine anyway (shared cores, caches), to tell that apart from the cost of sharing.
    ['memory', 2],
    ['shared', 2],
    ['shared', 4],
  ] as const;
  const wall: number[][] = rows.map(() => []);
  const cpu: number[][] = rows.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const [i, [kind, threads]] of rows.entries()) {
      const [w, c] = await row(kind, threads, ms, lockstep);
      wall[i].push(w);
      cpu[i].push(c);
    }
    console.error(`round ${r + 1}: ${wall.map((x) => Math.round(x[r])).join(' ')}`);
  }
  console.log(
    `decisions per thread (1 decision = window + GCRA; ${KEYS} keys; ${rounds} rounds of ${ms} ms)`,
  );
  for (const [name, results] of [
    ['per wall second', wall],
    ['per CPU second', cpu],
  ] as const) {
    console.log(name);
    for (const [i, [kind, threads]] of rows.entries()) {
      const perMemory = results[i].map((x, r) => x / results[0][r]);
      const perShared = results[i].map((x, r) => x / results[1][r]);
      console.log(
        `  ${kind.padEnd(6)} x${threads}: median ${Math.round(median(results[i])).toLocaleString('en')}` +
          `  ÷ memory x1 ${median(perMemory).toFixed(2)}  ÷ shared x1 ${median(perShared).toFixed(2)}` +
          `  (rounds: ${results[i].map((x) => Math.round(x)).join(', ')})`,
      );
    }
  }
}

if (isMainThread) await main();
else work(workerData as Job);
