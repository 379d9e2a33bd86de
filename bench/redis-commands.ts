/**
 * `node bench/redis-commands.ts [--targets sluice-redis,fastify-rlf-redis] [--seconds 5]`:
 * the commands a Redis row's gateway sends to Redis per proxied request, under wrk's load
 * (the bench's 50 connections over 1,000 keys): Redis' own MONITOR, for the measured
 * run, counts each command a client sent (those a script runs inside Redis are no round
 * trip and are left out), divided by the requests wrk completed. Bounded: a warm-up and
 * one measured run per target, then everything started is stopped by pid.
 *
 * @example
 *   node bench/redis-commands.ts --targets sluice-redis --seconds 5
 *   // sluice-redis  1.003 commands/request  (evalsha 1.000, zrem 0.003)  6,120 req/s
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
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
      targets: { type: 'string', default: 'sluice-redis,fastify-rlf-redis' },
      seconds: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '3' },
    },
  });
  const seconds = Number(values.seconds);
  const warmup = Number(values.warmup);
  if (!(seconds > 0 && seconds <= 60 && warmup > 0 && warmup <= 60)) {
    process.stderr.write('redis-commands: --seconds and --warmup take 1 to 60\n');
    return 2;
  }
  const workDir = await mkdtemp(join(tmpdir(), 'sluice-redis-commands-'));
  installExitHandlers(async () => {
    await disposeSluice();
    await rm(workDir, { recursive: true, force: true });
  });
  const upstream = await startUpstreamProcess();
  try {
    for (const name of values.targets.split(',').filter(Boolean)) {
      const t = TARGETS.find((x) => x.name === name);
      if (t === undefined) throw new Error(`no target ${name} in bench/targets.ts`);
      const running = await t.start(upstream.url, { limit: HIGH_LIMIT, keys: 1000 });
      try {
        if (running.redisUrl === undefined) throw new Error(`${name} is not a Redis row`);
        const keysFile = join(workDir, `${name}.keys`);
        await writeFile(keysFile, `${running.keys.join('\n')}\n`);
        const load = { url: running.url, keysFile, header: t.keyHeader, connections: 50 };
        await runWrk({ ...load, durationSec: warmup });
        const calls = new Map<string, number>();
        const client = new Redis(running.redisUrl);
        const monitor = await client.monitor();
        monitor.on('monitor', (_time: string, args: string[], source: string) => {
          if (source === 'lua') return;
          const command = String(args[0]).toLowerCase();
          calls.set(command, (calls.get(command) ?? 0) + 1);
        });
        const r = await runWrk({ ...load, durationSec: seconds });
        monitor.disconnect();
        client.disconnect();
        const total = [...calls.values()].reduce((a, b) => a + b, 0);
        const each = [...calls]
          .sort((a, b) => b[1] - a[1])
          .map(([c, n]) => `${c} ${(n / r.requests).toFixed(3)}`)
          .join(', ');
        log(
          `${name.padEnd(17)} ${(total / r.requests).toFixed(3)} commands/request  (${each})  ` +
            `${Math.round(r.rps).toLocaleString('en-US')} req/s, non-2xx ${r.non2xx}`,
        );
      } finally {
        await running.stop();
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
    process.stderr.write(`redis-commands: ${error instanceof Error ? error.message : error}\n`);
    return 1;
  });
}
