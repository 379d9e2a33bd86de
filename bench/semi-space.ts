/**
 * `node bench/semi-space.ts [--flags '|--max-semi-space-size=64|--min-semi-space-size=64 --max-semi-space-size=64'] [--seconds 8] [--rounds 3]`:
 * whether a V8 young-generation size helps sluice's tails. sluice (full pipeline, memory
 * store, the bench policy, 1,000 keys) is started by its CLI with each variant's Node
 * flags on the command line plus `--trace-gc` (NODE_OPTIONS would not take
 * `--min-semi-space-size`, and `v8.setFlagsFromString` after start changes neither),
 * the variants interleaved in each round so the neighbours' load falls on all alike.
 * Prints, for the measured seconds: CPU µs per request (from /proc), req/s, p50, p99,
 * and the collections the gateway reported (scavenges: count, mean and longest pause;
 * mark-compacts: count).
 *
 * @example
 *   node bench/semi-space.ts --rounds 3
 *   // default        round 1  63.1 µs/req  9,069 req/s  p50 4.46 ms  p99 73.22 ms  scavenges 49 (mean 1.98 ms, max 6.33 ms)  mark-compacts 2
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { groupCpuMs } from './lib/group-cpu.ts';
import { freePort, waitForHttp } from './lib/net.ts';
import { installExitHandlers, spawnPinned, stopAll } from './lib/procs.ts';
import { HIGH_LIMIT } from './lib/target-types.ts';
import { startUpstreamProcess } from './lib/upstream-process.ts';
import { runWrk } from './lib/wrk.ts';
import { sluicePolicyYaml } from './peers/sluice.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const log = (s: string) => process.stdout.write(`${s}\n`);

/** `… Scavenge 10.1 (12.0) -> 3.2 (13.0) MB, pooled: 0 MB, 0.81 / 0.00 ms …`: the pause. */
const SCAVENGE = /Scavenge .*?MB, (?:pooled: [0-9.]+ MB, )?([0-9.]+) \/ [0-9.]+ ms/;

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      flags: {
        type: 'string',
        default: '|--max-semi-space-size=64|--min-semi-space-size=64 --max-semi-space-size=64',
      },
      seconds: { type: 'string', default: '8' },
      warmup: { type: 'string', default: '4' },
      rounds: { type: 'string', default: '3' },
      connections: { type: 'string', default: '50' },
      keys: { type: 'string', default: '1000' },
    },
  });
  const variants = values.flags.split('|').map((f) => f.trim().split(/\s+/).filter(Boolean));
  const [seconds, warmup, rounds, connections, keys] = [
    values.seconds,
    values.warmup,
    values.rounds,
    values.connections,
    values.keys,
  ].map(Number);
  if (![seconds, warmup, rounds, connections, keys].every((n) => Number.isFinite(n) && n > 0)) {
    process.stderr.write('semi-space: numbers must be > 0\n');
    return 2;
  }
  const workDir = await mkdtemp(join(tmpdir(), 'sluice-semi-'));
  installExitHandlers(async () => {
    await rm(workDir, { recursive: true, force: true });
  });
  const upstream = await startUpstreamProcess();
  try {
    // The keys, made once by the bench's key maker; each start gets a copy of the data.
    const template = join(workDir, 'keys-data');
    const make = spawnPinned(
      0,
      process.execPath,
      [
        join(ROOT, 'bench', 'peers', 'sluice-make-keys.ts'),
        '--count',
        String(keys),
        '--data',
        template,
      ],
      { cwd: ROOT, name: 'sluice keys create' },
    );
    if ((await make.exited()) !== 0) throw new Error(`key maker failed: ${make.output()}`);
    const keyLines = make.output().trim().split('\n').slice(0, keys);
    const keysFile = join(workDir, 'keys.txt');
    await writeFile(keysFile, `${keyLines.join('\n')}\n`);
    const config = join(workDir, 'policy.yaml');
    await writeFile(config, sluicePolicyYaml(HIGH_LIMIT));

    for (let round = 1; round <= rounds; round++) {
      for (const flags of variants) {
        const data = join(workDir, `data-${round}`);
        await cp(template, data, { recursive: true });
        const port = await freePort();
        const child = spawnPinned(
          0,
          process.execPath,
          [
            '--trace-gc',
            ...flags,
            join(ROOT, 'src', 'cli', 'main.ts'),
            'serve',
            '--listen',
            `127.0.0.1:${port}`,
            '--upstream',
            upstream.url,
            '--config',
            config,
            '--data',
            data,
          ],
          { cwd: ROOT, name: 'sluice serve', env: { ...process.env, NODE_ENV: 'production' } },
        );
        try {
          const url = `http://127.0.0.1:${port}`;
          if (!(await waitForHttp(`${url}/healthz`, { timeoutMs: 10_000, want: 200 }))) {
            throw new Error(`sluice did not start: ${child.output().slice(-300)}`);
          }
          const load = { url, keysFile, header: 'x-api-key', connections };
          await runWrk({ ...load, durationSec: warmup });
          const cpuBefore = groupCpuMs(child.pid);
          const outBefore = child.output().length;
          const r = await runWrk({ ...load, durationSec: seconds });
          const usPerRequest = ((groupCpuMs(child.pid) - cpuBefore) * 1000) / r.requests;
          const lines = child.output().slice(outBefore).split('\n');
          const pauses = lines
            .map((line) => SCAVENGE.exec(line)?.[1])
            .filter((ms) => ms !== undefined)
            .map(Number);
          const compacts = lines.filter((line) => line.includes('Mark-Compact')).length;
          const mean = pauses.reduce((a, b) => a + b, 0) / Math.max(1, pauses.length);
          log(
            `${(flags.join(' ') || 'default').padEnd(50)} round ${round}  ` +
              `${usPerRequest.toFixed(1)} µs/req  ${Math.round(r.rps).toLocaleString('en-US')} req/s  ` +
              `p50 ${r.p50Ms} ms  p99 ${r.p99Ms} ms  scavenges ${pauses.length} ` +
              `(mean ${mean.toFixed(2)} ms, max ${Math.max(0, ...pauses).toFixed(2)} ms)  ` +
              `mark-compacts ${compacts}  non-2xx ${r.non2xx}`,
          );
        } finally {
          await child.stop();
          await rm(data, { recursive: true, force: true });
        }
      }
    }
    return 0;
  } finally {
    await upstream.child.stop();
    await stopAll();
    await rm(workDir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2)).catch((error) => {
    process.stderr.write(`semi-space: ${error instanceof Error ? error.message : error}\n`);
    return 1;
  });
}
