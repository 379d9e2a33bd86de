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
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { groupCpuMs } from './lib/group-cpu.ts';
import { installExitHandlers, setPinning, stopAll } from './lib/procs.ts';
import { median } from './lib/results.ts';
import { HIGH_LIMIT } from './lib/target-types.ts';
import { startUpstreamProcess } from './lib/upstream-process.ts';
import { runWrk } from './lib/wrk.ts';
import { disposeSluice, startSluice } from './peers/sluice.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '24' },
    keys: { type: 'string', default: '200' },
  },
});
const rounds = Math.min(20, Math.max(1, Number(values.rounds)));
const seconds = Math.min(60, Math.max(1, Number(values.seconds)));
const warmup = Math.min(30, Math.max(0, Number(values.warmup)));
const connections = Math.min(500, Math.max(1, Number(values.connections)));
const keys = Math.min(5000, Math.max(1, Number(values.keys)));
const ROWS = [1, 2] as const;

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

async function measure(upstreamUrl: string, workDir: string, threads: number): Promise<Run> {
  const running = await startSluice(upstreamUrl, { limit: HIGH_LIMIT, keys, threads });
  try {
    const keysFile = join(workDir, 'keys');
    await writeFile(keysFile, `${running.keys.join('\n')}\n`);
    const load = { url: running.url, keysFile, header: 'x-api-key', connections };
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
    `\nsluice CPU per request, ${rounds} rounds × ${seconds} s, wrk -c${connections}, ${keys} keys`,
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
