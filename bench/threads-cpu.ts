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
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { groupCpuMs } from './lib/group-cpu.ts';
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
  },
});
const rounds = Math.min(20, Math.max(1, Number(values.rounds)));
const seconds = Math.min(60, Math.max(1, Number(values.seconds)));
const warmup = Math.min(30, Math.max(0, Number(values.warmup)));
const connections = Math.min(500, Math.max(1, Number(values.connections)));
const keys = Math.min(5000, Math.max(1, Number(values.keys)));
const rate =
  values.rate === undefined ? undefined : Math.min(50_000, Math.max(1, Number(values.rate)));
const ROWS = [1, 2] as const;
const peer = values.peer === 'nginx' ? 'nginx' : 'sluice';

setPinning(false);
installExitHandlers(async () => {
  await disposeSluice();
});

interface Run {
  readonly threads: number;
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

async function measure(upstreamUrl: string, workDir: string, threads: number): Promise<Run> {
  const running =
    peer === 'nginx'
      ? await startNginxWorkers(upstreamUrl, threads)
      : await startSluice(upstreamUrl, { limit: HIGH_LIMIT, keys, threads });
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
      const r = await pacedLoad({ ...paced, durationSec: seconds });
      const cpuMs = groupCpuMs(running.pid) - before;
      const ok = r.status['200'] ?? 0;
      return {
        threads,
        rps: r.completed / seconds,
        usPerRequest: (cpuMs * 1000) / Math.max(1, r.completed),
        non2xx: r.completed - ok + r.errors,
      };
    }
    if (warmup > 0) await runWrk({ ...load, durationSec: warmup });
    const before = groupCpuMs(running.pid);
    const r = await runWrk({ ...load, durationSec: seconds });
    const cpuMs = groupCpuMs(running.pid) - before;
    return { threads, rps: r.rps, usPerRequest: (cpuMs * 1000) / r.requests, non2xx: r.non2xx };
  } finally {
    await running.stop();
  }
}

async function main(): Promise<void> {
  const upstream = await startUpstreamProcess();
  const workDir = await mkdtemp(join(tmpdir(), 'sluice-bench-threads-'));
  const runs: Run[] = [];
  const ratios: number[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      const row: Run[] = [];
      for (const threads of ROWS) {
        const run = await measure(upstream.url, workDir, threads);
        row.push(run);
        runs.push(run);
        console.error(
          `round ${round}, --threads ${threads}: ${run.rps.toFixed(0)} req/s, ${run.usPerRequest.toFixed(1)} µs CPU per request, ${run.non2xx} non-2xx`,
        );
      }
      ratios.push(row[1].usPerRequest / row[0].usPerRequest);
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
    await disposeSluice();
    await stopAll();
  }
  console.log(
    `\n${peer} CPU per request, ${rounds} rounds × ${seconds} s, ${rate === undefined ? `wrk -c${connections}, ${keys} keys` : `paced ${rate} req/s over ${connections} connections`}`,
  );
  console.log('| threads | req/s (median) | CPU µs / request (median) |');
  console.log('| ------: | -------------: | ------------------------: |');
  for (const threads of ROWS) {
    const mine = runs.filter((r) => r.threads === threads);
    console.log(
      `| ${threads} | ${median(mine.map((r) => r.rps)).toFixed(0)} | ${median(mine.map((r) => r.usPerRequest)).toFixed(1)} |`,
    );
  }
  console.log(
    `\n--threads 2 ÷ --threads 1, CPU per request (median of rounds): ${median(ratios).toFixed(2)}x`,
  );
}

await main();
