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
 *
 * `npm run bench` runs it too (sharedTable), after the decision engine.
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

export interface SharedTableRow {
  readonly kind: 'memory' | 'shared';
  readonly threads: number;
  /** Per round: decisions per thread per second of wall time. */
  readonly wall: number[];
  /** Per round: decisions per thread per second of the threads' own CPU time. */
  readonly cpu: number[];
}

export interface SharedTableResults {
  readonly rounds: number;
  readonly ms: number;
  readonly keys: number;
  readonly rows: SharedTableRow[];
}

/**
 * The rows (memory x1, shared x1, memory x2, shared x2, shared x4), taking turns for
 * `rounds` rounds of `ms` each; what `npm run bench` reports and `main` prints.
 *
 * @example
 *   const r = await sharedTable(3, 2000);
 *   r.rows.find((x) => x.kind === 'shared' && x.threads === 2)?.wall; // [1.9e6, …]
 */
export async function sharedTable(
  rounds: number,
  ms: number,
  lockstep = false,
  log: (line: string) => void = () => {},
): Promise<SharedTableResults> {
  const specs = [
    ['memory', 1],
    ['shared', 1],
    // Two threads with a memory store each (nothing shared): what two threads get on this
    // machine anyway (shared cores, caches), to tell that apart from the cost of sharing.
    ['memory', 2],
    ['shared', 2],
    ['shared', 4],
  ] as const;
  const rows: SharedTableRow[] = specs.map(([kind, threads]) => ({
    kind,
    threads,
    wall: [],
    cpu: [],
  }));
  for (let r = 0; r < rounds; r++) {
    for (const [i, [kind, threads]] of specs.entries()) {
      const [w, c] = await row(kind, threads, ms, lockstep);
      rows[i].wall.push(w);
      rows[i].cpu.push(c);
    }
    log(`round ${r + 1}: ${rows.map((x) => Math.round(x.wall[r])).join(' ')}`);
  }
  return { rounds, ms, keys: KEYS, rows };
}

/**
 * Median over the rounds of (decisions per thread of `kind` × `threads`) ÷ (of shared x1),
 * per wall second or per CPU second; undefined when a row is missing.
 */
export function perThreadRatio(
  r: SharedTableResults,
  threads: number,
  per: 'wall' | 'cpu',
): number | undefined {
  const one = r.rows.find((x) => x.kind === 'shared' && x.threads === 1);
  const n = r.rows.find((x) => x.kind === 'shared' && x.threads === threads);
  if (one === undefined || n === undefined || n[per].length === 0) return undefined;
  return median(n[per].map((v, i) => v / one[per][i]));
}

async function main(): Promise<void> {
  const arg = (name: string, fallback: number): number => {
    const i = process.argv.indexOf(`--${name}`);
    return i < 0 ? fallback : Number(process.argv[i + 1]);
  };
  const lockstep = process.argv.includes('--lockstep');
  const rounds = Math.min(20, Math.max(1, arg('rounds', 3)));
  const ms = Math.min(10_000, Math.max(200, arg('seconds', 2) * 1000));
  const result = await sharedTable(rounds, ms, lockstep, (l) => console.error(l));
  console.log(
    `decisions per thread (1 decision = window + GCRA; ${KEYS} keys; ${rounds} rounds of ${ms} ms)`,
  );
  for (const per of ['wall', 'cpu'] as const) {
    console.log(per === 'wall' ? 'per wall second' : 'per CPU second');
    for (const x of result.rows) {
      const perMemory = x[per].map((v, r) => v / result.rows[0][per][r]);
      const perShared = x[per].map((v, r) => v / result.rows[1][per][r]);
      console.log(
        `  ${x.kind.padEnd(6)} x${x.threads}: median ${Math.round(median(x[per])).toLocaleString('en')}` +
          `  ÷ memory x1 ${median(perMemory).toFixed(2)}  ÷ shared x1 ${median(perShared).toFixed(2)}` +
          `  (rounds: ${x[per].map((v) => Math.round(v)).join(', ')})`,
      );
    }
  }
}

// A worker runs this file to make its decisions; the harness imports it for sharedTable.
if (!isMainThread) work(workerData as Job);
else if (import.meta.main) await main();
