/**
 * `node bench/cpu-per-request.ts [--targets sluice,data-path] [--seconds 10] [--rounds 3]`:
 * the gateway's CPU time per request served (user + system of its process group, from
 * /proc, divided by the requests wrk completed), with req/s, p50 and p99 beside it. On a
 * shared machine req/s moves with the neighbours' load; the CPU a request costs moves
 * much less, so before/after comparisons of the data path use this figure. Run it from
 * two checkouts in turn (old code, new code) and compare the medians.
 *
 * @example
 *   node bench/cpu-per-request.ts --targets sluice --seconds 10 --rounds 3
 *   // sluice  round 1  61.2 µs/req  8,120 req/s  p50 5.9 ms  p99 9.8 ms  non-2xx 0
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { groupCpuMs } from './lib/group-cpu.ts';
import { installExitHandlers, stopAll } from './lib/procs.ts';
import { HIGH_LIMIT } from './lib/target-types.ts';
import { startUpstreamProcess } from './lib/upstream-process.ts';
import { runWrk } from './lib/wrk.ts';
import { disposeSluice } from './peers/sluice.ts';
import { TARGETS } from './targets.ts';

const log = (s: string) => process.stdout.write(`${s}\n`);

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      targets: { type: 'string', default: 'sluice' },
      seconds: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '4' },
      rounds: { type: 'string', default: '3' },
      connections: { type: 'string', default: '50' },
      keys: { type: 'string', default: '1000' },
    },
  });
  const names = values.targets.split(',').filter(Boolean);
  const targets = names.map((n) => TARGETS.find((t) => t.name === n));
  const [seconds, warmup, rounds, connections, keys] = [
    values.seconds,
    values.warmup,
    values.rounds,
    values.connections,
    values.keys,
  ].map(Number);
  if (targets.some((t) => t === undefined || t.name === 'direct')) {
    process.stderr.write('cpu-per-request: --targets must name gateways of bench/targets.ts\n');
    return 2;
  }
  if (![seconds, warmup, rounds, connections, keys].every((n) => Number.isFinite(n) && n > 0)) {
    process.stderr.write('cpu-per-request: numbers must be > 0\n');
    return 2;
  }
  const workDir = await mkdtemp(join(tmpdir(), 'sluice-cpu-'));
  installExitHandlers(async () => {
    await disposeSluice();
    await rm(workDir, { recursive: true, force: true });
  });
  const upstream = await startUpstreamProcess();
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const t of targets) {
        if (t === undefined) continue;
        const running = await t.start(upstream.url, { limit: HIGH_LIMIT, keys });
        try {
          const keysFile = join(workDir, `${t.name}.keys`);
          await writeFile(keysFile, `${running.keys.join('\n')}\n`);
          const load = { url: running.url, keysFile, header: t.keyHeader, connections };
          await runWrk({ ...load, durationSec: warmup });
          // The gateway's process group and its helpers' (a Redis row's redis-server).
          const pids = [running.pid ?? 0, ...(running.helperPids ?? [])];
          const cpu = () => pids.reduce((sum, pid) => sum + groupCpuMs(pid), 0);
          const before = cpu();
          const r = await runWrk({ ...load, durationSec: seconds });
          const usPerRequest = ((cpu() - before) * 1000) / r.requests;
          log(
            `${t.name.padEnd(10)} round ${round}  ${usPerRequest.toFixed(1)} µs/req  ` +
              `${Math.round(r.rps).toLocaleString('en-US')} req/s  p50 ${r.p50Ms} ms  ` +
              `p99 ${r.p99Ms} ms  non-2xx ${r.non2xx}`,
          );
        } finally {
          await running.stop();
        }
      }
    }
    return 0;
  } finally {
    await upstream.child.stop();
    await stopAll();
    await disposeSluice();
    await rm(workDir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2)).catch((error) => {
    process.stderr.write(`cpu-per-request: ${error instanceof Error ? error.message : error}\n`);
    return 1;
  });
}
