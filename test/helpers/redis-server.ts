/**
 * Real `redis-server` processes for tests, on loopback: a free port is picked (redis
 * needs a fixed one), nothing is persisted (`--save '' --appendonly no`), the working
 * directory is a fresh temporary one, and each server is stopped by its pid.
 *
 * @example
 * const redis = await startRedis();
 * t.after(() => redis.stop());
 * new RedisLimitStore(connectRedis({ url: redis.url }, 50));
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisProcess {
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /** Kills the server (SIGKILL by default: a crash) and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** A port free on 127.0.0.1 right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `redis-server` on 127.0.0.1 and resolves once it accepts connections
 * (within 10 s). `port` reuses a port (a restart); `args` adds options.
 */
export async function startRedis(
  options: { port?: number; args?: readonly string[] } = {},
): Promise<RedisProcess> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'sluice-redis-'));
  const child = spawn(
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
      ...(options.args ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForPing(port, child, () => output);
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid!,
    async stop(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, signal);
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `redis-cli ping` every 20 ms, at most 10 s (a loaded machine starts processes slowly). */
async function waitForPing(port: number, child: ChildProcess, output: () => string) {
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`redis-server exited: ${output()}`);
    if ((await redisCli(port, ['ping']).catch(() => '')).trim() === 'PONG') return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`redis-server on port ${port} did not answer within 10 s: ${output()}`);
}

/** Runs `redis-cli -p PORT ARGS…` (5 s at most, or `timeoutMs`) and resolves to its output. */
export function redisCli(port: number, args: readonly string[], timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'redis-cli',
      ['-h', '127.0.0.1', '-p', String(port), ...args],
      { timeout: timeoutMs },
      (error, stdout) => (error ? reject(error) : resolve(stdout)),
    );
  });
}

export interface RedisClusterProcess {
  readonly nodes: readonly { host: string; port: number }[];
  stop(): Promise<void>;
}

/**
 * Three masters with `--cluster-enabled yes`, joined by `redis-cli --cluster create`
 * (no replicas), resolved once the cluster says `cluster_state:ok` (within 20 s).
 */
/**
 * A free port a Cluster node can take: its cluster bus listens on port + 10000, so the
 * port must be at most 55535 (an ephemeral port from the kernel often is not) and that
 * bus port free too.
 */
async function clusterPort(): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = await freePort();
    if (port <= 55_535 && (await portIsFree(port + 10_000))) return port;
  }
  throw new Error(
    'no free port at most 55535 (with its cluster bus port free) for a Redis Cluster node',
  );
}

/** Whether a loopback port can be listened on now. */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function startRedisCluster(): Promise<RedisClusterProcess> {
  const servers: RedisProcess[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    for (let i = 0; i < 3; i++) {
      const port = await clusterPort();
      servers.push(
        await startRedis({
          port,
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`],
        }),
      );
    }
    const addresses = servers.map((s) => `127.0.0.1:${s.port}`);
    // `--cluster create` waits for the nodes to agree, polling once a second: on a loaded
    // machine that has taken more than the 5 s of an ordinary command.
    await redisCli(
      servers[0].port,
      ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'],
      30_000,
    );
    const until = Date.now() + 20_000;
    for (;;) {
      const infos = await Promise.all(servers.map((s) => redisCli(s.port, ['cluster', 'info'])));
      if (infos.every((info) => info.includes('cluster_state:ok'))) break;
      if (Date.now() > until) throw new Error('the Redis Cluster did not become ok within 20 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes: servers.map((s) => ({ host: '127.0.0.1', port: s.port })), stop };
}

/**
 * A standalone server and a Cluster, started side by side; when either fails to start,
 * the other is stopped before the error is thrown (a server left running would keep the
 * test file's process alive).
 */
export async function startRedisAndCluster(): Promise<[RedisProcess, RedisClusterProcess]> {
  const [single, cluster] = await Promise.allSettled([startRedis(), startRedisCluster()]);
  if (single.status === 'fulfilled' && cluster.status === 'fulfilled') {
    return [single.value, cluster.value];
  }
  await Promise.all([
    single.status === 'fulfilled' ? single.value.stop() : undefined,
    cluster.status === 'fulfilled' ? cluster.value.stop() : undefined,
  ]);
  throw single.status === 'rejected' ? single.reason : (cluster as PromiseRejectedResult).reason;
}
