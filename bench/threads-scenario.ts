/**
 * Issue 12's threads rows, in `npm run bench`: `sluice serve --threads 1` and
 * `--threads 2` against nginx with `worker_processes 1` and `2`, with nothing pinned —
 * the load generator, the upstream and the gateway share both cores, as the issue asks
 * (on this 2-core machine a throughput curve with wrk on the same cores means little, so
 * the figure that decides is the gateway's CPU per request, --threads 2 ÷ --threads 1).
 *
 * A fresh unpinned upstream for the scenario; each row started afresh, warmed up,
 * measured (after waiting for the machine to quieten), stopped; rows take turns over the
 * rounds. CPU per request = user + system CPU of the gateway's process group (every
 * thread; nginx's master and workers) from /proc ÷ requests answered.
 *
 * @example
 *   const r = await threadsScenario({ rounds: 1, durationSec: 3, warmupSec: 2, connections: 50, keys: 200, maxNoise: 0.25, workDir });
 *   console.log(r.sluiceCpuRatio); // e.g. 1.08
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { measureNoise, type Noise, waitForQuiet } from './lib/cpu-noise.ts';
import { groupCpuMs } from './lib/group-cpu.ts';
import { liveGroups, pinningOn, setPinning } from './lib/procs.ts';
import { median } from './lib/results.ts';
import { HIGH_LIMIT, type RunningTarget } from './lib/target-types.ts';
import { startUpstreamProcess } from './lib/upstream-process.ts';
import { runWrk } from './lib/wrk.ts';
import { startNginx } from './peers/nginx.ts';
import { startSluice } from './peers/sluice.ts';

export interface ThreadsRun {
  readonly round: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly gatewayCpuUs: number;
  readonly noise?: Noise;
}

export interface ThreadsRow {
  readonly name: 'sluice-1' | 'sluice-2' | 'nginx-1' | 'nginx-2';
  readonly label: string;
  readonly runs: ThreadsRun[];
  error?: string;
}

export interface ThreadsResults {
  readonly rows: ThreadsRow[];
  readonly connections: number;
  readonly durationSec: number;
  /** Median over the rounds of (CPU/request with --threads 2) ÷ (with --threads 1). */
  readonly sluiceCpuRatio?: number;
  /** The same for nginx, worker_processes 2 ÷ 1: what a second worker costs nginx here. */
  readonly nginxCpuRatio?: number;
  /** Median over the rounds of sluice --threads 2 req/s ÷ nginx worker_processes 2 req/s. */
  readonly sluiceVsNginx?: number;
}

export interface ThreadsOptions {
  readonly rounds: number;
  readonly durationSec: number;
  readonly warmupSec: number;
  readonly connections: number;
  readonly keys: number;
  readonly maxNoise: number;
  readonly workDir: string;
  readonly log?: (line: string) => void;
}

const ROWS: readonly {
  name: ThreadsRow['name'];
  label: string;
  start: (upstream: string, keys: number) => Promise<RunningTarget>;
}[] = [
  {
    name: 'sluice-1',
    label: 'sluice --threads 1',
    start: (u, keys) => startSluice(u, { limit: HIGH_LIMIT, keys, threads: 1 }),
  },
  {
    name: 'sluice-2',
    label: 'sluice --threads 2',
    start: (u, keys) => startSluice(u, { limit: HIGH_LIMIT, keys, threads: 2 }),
  },
  {
    name: 'nginx-1',
    label: 'nginx limit_req, worker_processes 1',
    start: async (u, keys) => ({ ...(await startNginx(u, HIGH_LIMIT)), keys: benchKeys(keys) }),
  },
  {
    name: 'nginx-2',
    label: 'nginx limit_req, worker_processes 2',
    start: async (u, keys) => ({
      ...(await startNginx(u, HIGH_LIMIT, undefined, 2)),
      keys: benchKeys(keys),
    }),
  },
];

const benchKeys = (n: number) =>
  Array.from({ length: n }, (_, i) => `key-${String(i + 1).padStart(6, '0')}`);

/** The per-round ratio of `f` between rows `a` and `b`, as a median (undefined if none). */
function roundRatio(
  rows: readonly ThreadsRow[],
  a: string,
  b: string,
  f: (r: ThreadsRun) => number,
) {
  const of = (name: string) =>
    new Map(rows.find((r) => r.name === name)?.runs.map((r) => [r.round, r]));
  const top = of(a);
  const bottom = of(b);
  const ratios = [...top].flatMap(([round, r]) => {
    const other = bottom.get(round);
    return other && f(other) > 0 ? [f(r) / f(other)] : [];
  });
  return ratios.length ? median(ratios) : undefined;
}

/** Runs the scenario with pinning off (restored after); every child stopped by pid. */
export async function threadsScenario(opts: ThreadsOptions): Promise<ThreadsResults> {
  const log = opts.log ?? (() => {});
  const wasPinning = pinningOn();
  setPinning(false);
  const upstream = await startUpstreamProcess();
  const rows: ThreadsRow[] = ROWS.map((r) => ({ name: r.name, label: r.label, runs: [] }));
  try {
    for (let round = 1; round <= opts.rounds; round++) {
      for (const [i, spec] of ROWS.entries()) {
        const row = rows[i];
        if (row.error !== undefined) continue;
        try {
          const run = await measureRow(spec, upstream.url, round, opts);
          row.runs.push(run);
          log(
            `  threads round ${round}/${opts.rounds} ${spec.label.padEnd(36)} ${Math.round(run.rps).toLocaleString('en-US').padStart(7)} req/s  ${run.gatewayCpuUs.toFixed(1)} µs CPU/req  p99 ${run.p99Ms.toFixed(2)} ms${run.errors ? `  ${run.errors} errors/non-2xx` : ''}`,
          );
        } catch (error) {
          row.error = `round ${round}: ${error instanceof Error ? error.message : String(error)}`;
          log(`  threads ${spec.label}: failed: ${row.error}`);
        }
      }
    }
  } finally {
    await upstream.child.stop();
    setPinning(wasPinning);
  }
  const cpu = (r: ThreadsRun) => r.gatewayCpuUs;
  return {
    rows,
    connections: opts.connections,
    durationSec: opts.durationSec,
    sluiceCpuRatio: roundRatio(rows, 'sluice-2', 'sluice-1', cpu),
    nginxCpuRatio: roundRatio(rows, 'nginx-2', 'nginx-1', cpu),
    sluiceVsNginx: roundRatio(rows, 'sluice-2', 'nginx-2', (r) => r.rps),
  };
}

async function measureRow(
  spec: (typeof ROWS)[number],
  upstreamUrl: string,
  round: number,
  opts: ThreadsOptions,
): Promise<ThreadsRun> {
  const running = await spec.start(upstreamUrl, opts.keys);
  try {
    const keysFile = join(opts.workDir, `threads-${spec.name}.keys`);
    await writeFile(keysFile, `${running.keys.join('\n')}\n`);
    const load = { url: running.url, keysFile, header: 'x-api-key', connections: opts.connections };
    if (opts.warmupSec > 0) await runWrk({ ...load, durationSec: opts.warmupSec });
    await waitForQuiet(opts.maxNoise, 30_000, liveGroups);
    const pid = running.pid ?? 0;
    const before = groupCpuMs(pid);
    const [r, noise] = await Promise.all([
      runWrk({ ...load, durationSec: opts.durationSec }),
      measureNoise(opts.durationSec * 1000, liveGroups),
    ]);
    const cpuMs = groupCpuMs(pid) - before;
    return {
      round,
      rps: r.rps,
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      errors: r.non2xx + r.socketErrors,
      gatewayCpuUs: r.requests > 0 ? (cpuMs * 1000) / r.requests : Number.NaN,
      noise,
    };
  } finally {
    await running.stop();
  }
}

/** Median of each figure of a row's runs (undefined when it has none). */
export function threadsMedians(row: ThreadsRow) {
  if (row.runs.length === 0) return undefined;
  const col = (f: (r: ThreadsRun) => number) => median(row.runs.map(f));
  return {
    rps: col((r) => r.rps),
    p50Ms: col((r) => r.p50Ms),
    p99Ms: col((r) => r.p99Ms),
    errors: col((r) => r.errors),
    gatewayCpuUs: col((r) => r.gatewayCpuUs),
    noiseCores: col((r) => (r.noise ? r.noise.foreignCores + r.noise.stealCores : 0)),
  };
}
