/**
 * The gateway's CPU per request with `--threads 1` and `--threads 2` (issue 12: within
 * 1.15x). The real `sluice serve` in front of bench/upstream.ts, wrk rotating over the
 * keys, the gateway's process CPU time (/proc, every thread of the process) divided by
 * the requests wrk completed. Rows take turns for `--rounds` rounds so that a noisy
 * machine affects both alike; the table gives each row's median and the median of the
 * per-round ratios.
 *
 * No pinning: with two threads the gateway is meant to use both cores, so the load
 * generator and the upstream share them (CPU per request is what is compared, not req/s).
 *
 *   node bench/threads-cpu.ts                        # 3 rounds of 8 s per row
 *   node bench/threads-cpu.ts --rounds 5 --seconds 10 --connections 24 --keys 200
 *
 * 24 connections: all load comes from 127.0.0.1, and the built-in ip.concurrency (32)
 * would answer 429 past it, which would make the rows compare refusals with proxying.
 *
 * `--rate R` sends R requests a second instead (paced-load.ts, open loop) so that both
 * rows serve the same load below saturation. Why both: at saturation one thread handles
 * many ready sockets per event-loop turn and never sleeps, while two half-loaded threads
 * sleep and wake (epoll) far more often per request, on cores they share with wrk and the
 * upstream; at a paced rate that batching difference is gone and what is left is the
 * cost of the threads themselves.
 *
 *   node bench/threads-cpu.ts --rate 2000
 *
 * `--peer nginx` measures nginx with `worker_processes` 1 and 2 instead, in the same
 * conditions: the control that tells the cost of a second worker on this machine (two
 * event loops sharing two cores with wrk and the upstream) from the cost of sluice's
 * threads.
 *
 *   node bench/threads-cpu.ts --peer nginx
 *
 * `--variant` (repeatable) replaces the two rows with others, each `THREADS [NAME=VALUE…]
 * [node flags…]`, all ratios against the first: how issue 12's flags were measured.
 * Every row also reports each kind of thread's CPU per request (/proc/PID/task: the
 * JavaScript threads, V8's helpers, libuv's pool) and the context switches per request.
 *
 *   node bench/threads-cpu.ts --variant 1 --variant 2 --variant '2 --single-threaded-gc'
 */
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { clockTicks, groupCpuMs } from './lib/group-cpu.ts';
import { freePort, waitForHttp } from './lib/net.ts';
import { installExitHandlers, setPinning, spawnPinned, stopAll } from './lib/procs.ts';
import { median } from './lib/results.ts';
import { HIGH_LIMIT } from './lib/target-types.ts';
import { startUpstreamProcess } from './lib/upstream-process.ts';
import { runWrk } from './lib/wrk.ts';
import { pacedLoad } from './paced-load.ts';
import { nginxConf } from './peers/nginx.ts';
import { disposeSluice, startSluice } from './peers/sluice.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '24' },
    keys: { type: 'string', default: '200' },
    rate: { type: 'string' },
    peer: { type: 'string', default: 'sluice' },
    variant: { type: 'string', multiple: true },
  },
});
const rounds = Math.min(20, Math.max(1, Number(values.rounds)));
const seconds = Math.min(60, Math.max(1, Number(values.seconds)));
const warmup = Math.min(30, Math.max(0, Number(values.warmup)));
const connections = Math.min(500, Math.max(1, Number(values.connections)));
const keys = Math.min(5000, Math.max(1, Number(values.keys)));
const rate =
  values.rate === undefined ? undefined : Math.min(50_000, Math.max(1, Number(values.rate)));
const peer = values.peer === 'nginx' ? 'nginx' : 'sluice';

/** One row: a thread count, environment variables and Node/V8 flags for the gateway. */
interface Variant {
  readonly label: string;
  readonly threads: number;
  readonly env: Record<string, string>;
  readonly nodeArgs: string[];
}

function parseVariant(text: string): Variant {
  const [count, ...rest] = text.trim().split(/\s+/);
  const threads = Math.min(8, Math.max(1, Number(count) || 1));
  const env: Record<string, string> = {};
  const nodeArgs: string[] = [];
  for (const word of rest) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(word);
    if (m !== null) env[m[1]] = m[2];
    else nodeArgs.push(word);
  }
  return { label: text.trim(), threads, env, nodeArgs };
}

const ROWS: Variant[] = (values.variant ?? ['1', '2']).map(parseVariant);
if (peer === 'nginx' && ROWS.some((v) => v.nodeArgs.length > 0 || Object.keys(v.env).length > 0)) {
  throw new Error('--variant flags apply to sluice only');
}

/** CPU ticks per kind of thread (its name: node, WorkerThread, V8Worker, libuv-worker…) and context switches, from /proc. */
function threadStats(pid: number): { ticks: Map<string, number>; switches: number } {
  const ticks = new Map<string, number>();
  let switches = 0;
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return { ticks, switches };
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const open = stat.indexOf('(');
      const close = stat.lastIndexOf(')');
      // Names carry a number per thread (V8 workers, libuv's pool): one kind per name without it.
      const name = stat.slice(open + 1, close).replace(/[\s\d]+$/, '');
      const fields = stat.slice(close + 2).split(' ');
      ticks.set(name, (ticks.get(name) ?? 0) + Number(fields[11]) + Number(fields[12]));
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      for (const m of status.matchAll(/_ctxt_switches:\s+(\d+)/g)) switches += Number(m[1]);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return { ticks, switches };
}

setPinning(false);
installExitHandlers(async () => {
  await disposeSluice();
});

interface Run {
  readonly variant: Variant;
  readonly threads: number;
  /** µs of CPU per request by kind of thread (threadStats). */
  readonly byThread: Map<string, number>;
  readonly switchesPerRequest: number;
  readonly rps: number;
  readonly usPerRequest: number;
  readonly non2xx: number;
}

/** nginx with `workers` worker processes (the peer's own config otherwise), unpinned. */
async function startNginxWorkers(upstreamUrl: string, workers: number) {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-nginx-threads-'));
  await chmod(dir, 0o755);
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  const text = nginxConf(dir, port, new URL(upstreamUrl).host, HIGH_LIMIT);
  await writeFile(conf, text.replace('worker_processes 1;', `worker_processes ${workers};`));
  const child = spawnPinned(
    0,
    'nginx',
    ['-e', join(dir, 'error.log'), '-p', dir, '-c', conf, '-g', 'daemon off;'],
    { name: 'nginx' },
  );
  const stop = async () => {
    await child.stop();
    await rm(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  if (!(await waitForHttp(`${url}/healthz`, { timeoutMs: 10_000 }))) {
    await stop();
    throw new Error('nginx did not start');
  }
  return { url, stop, pid: child.pid, keys: ['k'] };
}

/** Ticks → µs per request, per kind of thread, and switches per request, between two threadStats. */
function perRequest(
  before: ReturnType<typeof threadStats>,
  after: ReturnType<typeof threadStats>,
  requests: number,
): { byThread: Map<string, number>; switchesPerRequest: number } {
  const usPerTick = 1e6 / clockTicks();
  const byThread = new Map<string, number>();
  for (const [name, t] of after.ticks) {
    byThread.set(name, ((t - (before.ticks.get(name) ?? 0)) * usPerTick) / Math.max(1, requests));
  }
  return {
    byThread,
    switchesPerRequest: (after.switches - before.switches) / Math.max(1, requests),
  };
}

async function measure(upstreamUrl: string, workDir: string, variant: Variant): Promise<Run> {
  const { threads } = variant;
  let running:
    | Awaited<ReturnType<typeof startSluice>>
    | Awaited<ReturnType<typeof startNginxWorkers>>;
  if (peer === 'nginx') running = await startNginxWorkers(upstreamUrl, threads);
  else {
    // The child takes the environment as it is when spawned: set the variant's for that moment.
    const saved = Object.keys(variant.env).map((k) => [k, process.env[k]] as const);
    Object.assign(process.env, variant.env);
    try {
      running = await startSluice(upstreamUrl, {
        limit: HIGH_LIMIT,
        keys,
        threads,
        nodeArgs: variant.nodeArgs,
      });
    } finally {
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  }
  try {
    const keysFile = join(workDir, 'keys');
    await writeFile(keysFile, `${running.keys.join('\n')}\n`);
    const load = { url: running.url, keysFile, header: 'x-api-key', connections };
    if (rate !== undefined) {
      const paced = {
        url: running.url,
        header: 'x-api-key',
        key: running.keys[0],
        rate,
        connections,
      };
      if (warmup > 0) await pacedLoad({ ...paced, durationSec: warmup });
      const before = groupCpuMs(running.pid);
      const stats = threadStats(running.pid);
      const r = await pacedLoad({ ...paced, durationSec: seconds });
      const cpuMs = groupCpuMs(running.pid) - before;
      const ok = r.status['200'] ?? 0;
      return {
        variant,
        threads,
        rps: r.completed / seconds,
        usPerRequest: (cpuMs * 1000) / Math.max(1, r.completed),
        non2xx: r.completed - ok + r.errors,
        ...perRequest(stats, threadStats(running.pid), r.completed),
      };
    }
    if (warmup > 0) await runWrk({ ...load, durationSec: warmup });
    const before = groupCpuMs(running.pid);
    const stats = threadStats(running.pid);
    const r = await runWrk({ ...load, durationSec: seconds });
    const cpuMs = groupCpuMs(running.pid) - before;
    return {
      variant,
      threads,
      rps: r.rps,
      usPerRequest: (cpuMs * 1000) / r.requests,
      non2xx: r.non2xx,
      ...perRequest(stats, threadStats(running.pid), r.requests),
    };
  } finally {
    await running.stop();
  }
}

async function main(): Promise<void> {
  const upstream = await startUpstreamProcess();
  const workDir = await mkdtemp(join(tmpdir(), 'sluice-bench-threads-'));
  const runs: Run[][] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      const row: Run[] = [];
      // Rows take turns, and their order flips every round (the machine drifts within one).
      const order = round % 2 === 1 ? ROWS : [...ROWS].reverse();
      for (const variant of order) {
        const run = await measure(upstream.url, workDir, variant);
        row[ROWS.indexOf(variant)] = run;
        const parts = [...run.byThread]
          .filter(([, us]) => us >= 0.05)
          .map(([name, us]) => `${name} ${us.toFixed(1)}`)
          .join(', ');
        console.error(
          `round ${round}, ${peer} ${variant.label}: ${run.rps.toFixed(0)} req/s, ${run.usPerRequest.toFixed(1)} µs CPU per request (${parts}), ${run.switchesPerRequest.toFixed(2)} context switches per request, ${run.non2xx} non-2xx`,
        );
      }
      runs.push(row);
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
    await disposeSluice();
    await stopAll();
  }
  console.log(
    `\n${peer} CPU per request, ${rounds} rounds × ${seconds} s, ${rate === undefined ? `wrk -c${connections}, ${keys} keys` : `paced ${rate} req/s over ${connections} connections`}`,
  );
  console.log(
    '| row | req/s (median) | CPU µs / request (median) | ÷ first row (median of rounds) | context switches / request | CPU µs / request by thread |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | --- |');
  ROWS.forEach((variant, i) => {
    const mine = runs.map((r) => r[i]);
    const names = [...new Set(mine.flatMap((r) => [...r.byThread.keys()]))];
    const parts = names
      .map((n) => [n, median(mine.map((r) => r.byThread.get(n) ?? 0))] as const)
      .filter(([, us]) => us >= 0.05)
      .map(([n, us]) => `${n} ${us.toFixed(1)}`)
      .join(', ');
    console.log(
      `| ${peer === 'nginx' ? `worker_processes ${variant.threads}` : `--threads ${variant.label}`} | ${median(mine.map((r) => r.rps)).toFixed(0)} | ${median(mine.map((r) => r.usPerRequest)).toFixed(1)} | ${median(runs.map((r) => r[i].usPerRequest / r[0].usPerRequest)).toFixed(2)}x | ${median(mine.map((r) => r.switchesPerRequest)).toFixed(2)} | ${parts} |`,
    );
  });
  if (ROWS.length === 2 && ROWS[0].threads === 1 && ROWS[1].threads === 2) {
    console.log(
      `\n--threads 2 ÷ --threads 1, CPU per request (median of rounds): ${median(runs.map((r) => r[1].usPerRequest / r[0].usPerRequest)).toFixed(2)}x`,
    );
  }
}

await main();
