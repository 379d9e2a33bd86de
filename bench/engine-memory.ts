/**
 * Decision engine + memory limit store against rate-limiter-flexible's RateLimiterMemory:
 * decisions per second and heap bytes per tracked key, at 10k and 1M keys.
 *
 * One decision = one per-IP check + one per-account check. sluice: `engine.admit()`
 * (synchronous with the memory store, as on the gateway's hot path; also reported when
 * awaited, to show what a promise per decision costs). rate-limiter-flexible: `consume`
 * one point on an IP limiter and one on an account limiter, each awaited. Limits are
 * set so every decision is an allow on both sides (the common path) and every key's state
 * stays alive for the run.
 *
 * Keys: half IPs (`10.a.b.c`), half account ids, so N keys = N/2 decisions to fill, with
 * strings made per request. Memory = growth of V8 heap used + ArrayBuffers (the store's
 * rows live there) after a full GC, divided by keys.
 *
 * Throughput is then measured on the keys held, in a scattered order, twice:
 * - `reused`: with the very string objects the fill used, as the gateway passes them
 *   (account ids from its identity cache, a keep-alive socket's address);
 * - `fresh`: with equal strings made anew (a new connection from a known IP).
 * Each implementation runs in a child process of its own (the best of ROUNDS rounds),
 * `--repeats` times taking turns, so that each repeat measures sluice and the peer side by
 * side. The machine may be shared and noisy: the table gives the best and the median
 * of the repeats, and compares ratios — best against best, and the median of the
 * per-repeat ratios — rather than absolute numbers across runs.
 *
 *   node --expose-gc bench/engine-memory.ts                              # the table
 *   node --expose-gc bench/engine-memory.ts --keys 1000000 --repeats 5   # one size, more runs
 *   node --expose-gc bench/engine-memory.ts sluice 1000000               # one child's JSON
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { systemClock } from '../src/core/clock.ts';
import { createEngine } from '../src/core/engine.ts';
import type { Policy } from '../src/core/policy/types.ts';
import { MemoryLimitStore } from '../src/store/memory-limit-store.ts';
import { perMinute, testPolicy } from '../test/unit/helpers/policy-fixture.ts';

type Impl = 'sluice' | 'sluice-awaited' | 'rlf';
interface Measurement {
  impl: Impl;
  keys: number;
  bytesPerKey: number;
  /** Decisions per second with the stored string objects, and with equal new ones. */
  reused: number;
  fresh: number;
}

/** This file: each measurement runs it again in a child of its own. */
const SELF = fileURLToPath(import.meta.url);
const ROUNDS = 6;
const ROUND_MS = 300;
const IMPLS: readonly Impl[] = ['sluice', 'sluice-awaited', 'rlf'];
const HUGE = 1e9;

const ipOf = (i: number) => `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
const accountOf = (i: number) => `acct-${i}`;

function memory(): number {
  globalThis.gc?.();
  globalThis.gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Never limits; 1/min with a huge burst keeps each account's tat ahead of now. */
function generousPolicy(): Policy {
  const plan = {
    ...testPolicy().plans.standard,
    base: perMinute(1),
    perUnit: perMinute(0),
    min: perMinute(1),
    max: perMinute(1),
    burst: HUGE,
  };
  return testPolicy({
    ip: { warn: perMinute(HUGE), block: perMinute(HUGE), concurrency: 32, sharedEgress: [] },
    plans: { standard: plan },
  });
}

type Decide = (ip: string, account: string) => unknown;

function limiter(impl: Impl, keys: number): { decide: Decide; held(): number } {
  if (impl === 'rlf') {
    const ip = new RateLimiterMemory({ keyPrefix: 'ip', points: HUGE, duration: 60 });
    const account = new RateLimiterMemory({ keyPrefix: 'acct', points: HUGE, duration: 60 });
    return {
      decide: async (ipKey, accountId) => {
        await ip.consume(ipKey, 1);
        await account.consume(accountId, 1);
      },
      held: () => keys, // rate-limiter-flexible does not expose its key count
    };
  }
  const store = new MemoryLimitStore({ maxKeys: 2 * keys });
  const engine = createEngine({ policy: generousPolicy(), store, clock: systemClock });
  return {
    decide: (ip, id) => {
      const d = engine.admit({ ip, account: { id, size: 1, plan: 'standard' }, cost: 1 });
      if (d instanceof Promise || d.outcome !== 'allow') throw new Error('expected an allow');
      return d;
    },
    held: () => store.size(),
  };
}

/** Best decisions per second over ROUNDS rounds, cycling through the given keys. */
async function throughput(decide: Decide, awaited: boolean, ips: string[], accounts: string[]) {
  let best = 0;
  let k = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let done = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < ROUND_MS) {
      for (let j = 0; j < 1000; j++) {
        k = k + 1 < ips.length ? k + 1 : 0;
        if (awaited) await decide(ips[k], accounts[k]);
        else decide(ips[k], accounts[k]);
      }
      done += 1000;
      elapsed = performance.now() - start;
    }
    best = Math.max(best, (done / elapsed) * 1000);
  }
  return best;
}

async function measure(impl: Impl, keys: number): Promise<Measurement> {
  const pairs = keys / 2;
  // Allocated before the baseline so that only the strings, not these arrays, count.
  const filledIps: string[] = new Array(pairs).fill('');
  const filledAccounts: string[] = new Array(pairs).fill('');
  const before = memory();
  const { decide, held } = limiter(impl, keys);
  const awaited = impl !== 'sluice';
  for (let i = 0; i < pairs; i++) {
    filledIps[i] = ipOf(i);
    filledAccounts[i] = accountOf(i);
    if (awaited) await decide(filledIps[i], filledAccounts[i]);
    else decide(filledIps[i], filledAccounts[i]);
  }
  const bytesPerKey = (memory() - before) / held();
  if (held() !== keys) throw new Error(`expected ${keys} keys, the store holds ${held()}`);

  // A scattered order (a stride coprime with the count), the same for both modes.
  const order = Array.from({ length: pairs }, (_, j) => (j * 7919) % pairs);
  const reused = await throughput(
    decide,
    awaited,
    order.map((i) => filledIps[i]),
    order.map((i) => filledAccounts[i]),
  );
  const fresh = await throughput(decide, awaited, order.map(ipOf), order.map(accountOf));
  return { impl, keys, bytesPerKey, reused, fresh };
}

function runChild(impl: Impl, keys: number, cpu: number | undefined): Measurement {
  const args = ['--expose-gc', '--max-old-space-size=8192', SELF, impl, String(keys)];
  const [file, argv] =
    cpu === undefined
      ? [process.execPath, args]
      : ['taskset', ['-c', String(cpu), process.execPath, ...args]];
  const out = spawnSync(file, argv, { encoding: 'utf8', timeout: 600_000 });
  if (out.status !== 0) throw new Error(`${impl} ${keys} failed:\n${out.stderr}`);
  return JSON.parse(out.stdout.trim().split('\n').pop()!) as Measurement;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en').padStart(11);
const ratio = (n: number) => `${n.toFixed(2)}x`.padStart(6);

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(name);
  return at > 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

/** One size's figures: each implementation's best and median, and sluice's ratios. */
export interface EngineComparison {
  keys: number;
  repeats: number;
  rows: {
    impl: Impl;
    best: { reused: number; fresh: number };
    median: { reused: number; fresh: number };
    bytesPerKey: number;
  }[];
  /** sluice ÷ rate-limiter-flexible, median of the per-repeat ratios. */
  ratio: { reused: number; fresh: number };
  /** Each repeat's ratio, reused strings. */
  perRepeat: number[];
  /** rate-limiter-flexible's bytes per key ÷ sluice's. */
  memoryRatio: number;
}

/**
 * Runs every implementation `repeats` times at `n` keys, taking turns, each in a child
 * (pinned to `cpu` when given).
 */
export function compareEngine(n: number, repeats: number, cpu?: number): EngineComparison {
  const runs = new Map<Impl, Measurement[]>(IMPLS.map((impl) => [impl, []]));
  for (let rep = 0; rep < repeats; rep++) {
    for (const which of IMPLS) runs.get(which)!.push(runChild(which, n, cpu));
  }
  const rows = [...runs].map(([impl, ms]) => ({
    impl,
    best: {
      reused: Math.max(...ms.map((m) => m.reused)),
      fresh: Math.max(...ms.map((m) => m.fresh)),
    },
    median: { reused: median(ms.map((m) => m.reused)), fresh: median(ms.map((m) => m.fresh)) },
    bytesPerKey: median(ms.map((m) => m.bytesPerKey)),
  }));
  const s = runs.get('sluice')!;
  const r = runs.get('rlf')!;
  const perRepeat = (k: 'reused' | 'fresh') => s.map((m, i) => m[k] / r[i][k]);
  const bytes = (impl: Impl) => rows.find((row) => row.impl === impl)!.bytesPerKey;
  return {
    keys: n,
    repeats,
    rows,
    ratio: { reused: median(perRepeat('reused')), fresh: median(perRepeat('fresh')) },
    perRepeat: perRepeat('reused'),
    memoryRatio: bytes('rlf') / bytes('sluice'),
  };
}

function printComparison(c: EngineComparison): void {
  for (const row of c.rows) {
    console.log(
      `${row.impl.padEnd(15)} ${String(c.keys).padStart(9)} keys ` +
        `best ${fmt(row.best.reused)} | ${fmt(row.best.fresh)}  ` +
        `median ${fmt(row.median.reused)} | ${fmt(row.median.fresh)}  ` +
        `${row.bytesPerKey.toFixed(1).padStart(6)} B/key`,
    );
  }
  console.log(
    `  sluice vs rate-limiter-flexible at ${c.keys} keys (reused | fresh strings): ` +
      `median of per-repeat ratios ${ratio(c.ratio.reused)} | ${ratio(c.ratio.fresh)}` +
      `   (per repeat, reused: ${c.perRepeat.map((x) => x.toFixed(2)).join(' ')})\n` +
      `    ${c.memoryRatio.toFixed(1)}x less memory per key\n`,
  );
}

async function main(): Promise<void> {
  const [impl, keys] = process.argv.slice(2);
  if (impl !== undefined && !impl.startsWith('--')) {
    if (globalThis.gc === undefined) throw new Error('run with node --expose-gc');
    console.log(JSON.stringify(await measure(impl as Impl, Number(keys))));
    return;
  }
  const sizes = option('--keys', '10000,1000000').split(',').map(Number);
  const repeats = Math.max(1, Number(option('--repeats', '3')));
  console.log(
    `decisions/s (reused strings | fresh strings), heap bytes per key; ${repeats} repeats`,
  );
  for (const n of sizes) printComparison(compareEngine(n, repeats));
}

if (import.meta.main) await main();
