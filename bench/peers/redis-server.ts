/**
 * A redis-server for one benchmark start, pinned like the servers (core 0): on a free
 * loopback port, nothing persisted, its working directory a fresh temporary one, stopped
 * by pid with the gateway it serves. A fresh one per start, as each gateway is started
 * afresh: no state carried from one run to the next.
 *
 * @example
 *   const redis = await startBenchRedis();
 *   // point the gateway at redis.url; count redis.pid's CPU with the gateway's
 *   await redis.stop();
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../lib/net.ts';
import { runBounded, spawnPinned } from '../lib/procs.ts';
import { TargetUnavailable } from '../lib/target-types.ts';

export interface BenchRedis {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Why redis-server cannot run here, or undefined. */
export function redisUnavailable(): string | undefined {
  const r = runBounded('redis-server', ['--version'], { timeoutMs: 5000 });
  return r.status === 0 && !r.failed
    ? undefined
    : 'redis-server is not installed (apt-get install -y redis-server)';
}

/** Starts redis-server on 127.0.0.1 (core 0); resolves once it accepts connections. */
export async function startBenchRedis(): Promise<BenchRedis> {
  const why = redisUnavailable();
  if (why !== undefined) throw new TargetUnavailable(why);
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-redis-'));
  const port = await freePort();
  const child = spawnPinned(
    0,
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    { name: 'redis-server' },
  );
  const stop = async () => {
    await child.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await child.waitForLine(/Ready to accept connections/, 10_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `redis://127.0.0.1:${port}`, pid: child.pid, stop };
}
