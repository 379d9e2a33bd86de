/**
 * The gateways measured, in the order each round runs them. Every server is pinned to
 * core 0 (with the upstream); the load generator gets core 1.
 *
 * The two Redis rows (issue 13), `sluice-redis` and `fastify-rlf-redis`, each start a
 * redis-server of their own on core 0 beside the gateway; its CPU counts as the
 * gateway's.
 *
 * @example
 *   for (const t of TARGETS) if (!(await t.unavailable())) await t.start(upstream, opts);
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBounded, spawnPinned } from './lib/procs.ts';
import {
  FLOOD_IP,
  REFUSAL_KINDS,
  type StartOptions,
  syntheticKeys,
  type Target,
} from './lib/target-types.ts';
import { fastifyWindow } from './peers/fastify-rate-limit.ts';
import { rlfWindow } from './peers/fastify-rlf-redis.ts';
import { haproxyUnavailable, startHaproxy } from './peers/haproxy.ts';
import { nginxUnavailable, startNginx } from './peers/nginx.ts';
import { type BenchRedis, redisUnavailable, startBenchRedis } from './peers/redis-server.ts';
import { startSluice } from './peers/sluice.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The Bun binary the `bun` devDependency ships (pinned exact in package.json). */
export const BUN = join(ROOT, 'node_modules', '.bin', 'bun');

/** The valid keys and the refusal kind, for peers that take any key string. */
const refusalOf = (opts: StartOptions) =>
  opts.refusal && { kind: opts.refusal.kind, keys: syntheticKeys(opts.keys) };

/** No gateway: the upstream's own throughput, the ceiling for every other row. */
const direct: Target = {
  name: 'direct',
  label: 'direct (no gateway)',
  keyHeader: 'x-api-key',
  limits: false,
  unavailable: async () => undefined,
  start: async (upstreamUrl, opts) => ({
    url: upstreamUrl,
    keys: syntheticKeys(opts.keys),
    stop: async () => {},
  }),
};

const nginx: Target = {
  name: 'nginx',
  label: 'nginx limit_req',
  keyHeader: 'x-api-key',
  limits: true,
  refusalKinds: REFUSAL_KINDS,
  unavailable: async () => nginxUnavailable(),
  async start(upstreamUrl, opts) {
    const running = await startNginx(upstreamUrl, opts.limit, refusalOf(opts));
    return { ...running, keys: syntheticKeys(opts.keys) };
  },
};

/** HAProxy with a stick-table rate limit keyed by the API key: the second C peer. */
const haproxy: Target = {
  name: 'haproxy',
  label: 'HAProxy stick-table',
  keyHeader: 'x-api-key',
  limits: true,
  refusalKinds: REFUSAL_KINDS,
  unavailable: async () => haproxyUnavailable(),
  async start(upstreamUrl, opts) {
    const running = await startHaproxy(upstreamUrl, opts.limit, refusalOf(opts));
    return { ...running, keys: syntheticKeys(opts.keys) };
  },
};

/**
 * Starts a standalone peer server (bench/peers/NAME.ts) pinned to core 0, on Node (the
 * pinned Node 24 running this harness) unless `runtime` names another binary.
 */
async function startPeerScript(
  script: string,
  args: string[],
  name: string,
  keys: number,
  runtime = process.execPath,
  cleanUp: () => Promise<void> = async () => {},
) {
  const child = spawnPinned(0, runtime, [join(ROOT, 'bench', 'peers', script), ...args], {
    cwd: ROOT,
    name,
    env: { ...process.env, NODE_ENV: 'production' },
  });
  const stop = async () => {
    await child.stop();
    await cleanUp();
  };
  try {
    const m = await child.waitForLine(/listening (http:\/\/\S+)/, 10_000);
    return { url: m[1], keys: syntheticKeys(keys), stop, pid: child.pid };
  } catch (error) {
    await stop();
    throw error;
  }
}

const fastify: Target = {
  name: 'fastify',
  label: 'Fastify + @fastify/rate-limit',
  keyHeader: 'x-api-key',
  limits: true,
  refusalKinds: REFUSAL_KINDS,
  unavailable: async () => undefined,
  async start(upstreamUrl, opts) {
    const { max, windowMs } = fastifyWindow(opts.limit);
    const args = ['--upstream', upstreamUrl, '--max', String(max), '--window-ms', String(windowMs)];
    const refusal = refusalOf(opts);
    if (refusal === undefined) {
      return startPeerScript('fastify-rate-limit.ts', args, 'fastify peer', opts.keys);
    }
    const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-fastify-'));
    await writeFile(join(dir, 'keys'), `${refusal.keys.join('\n')}\n`);
    args.push('--keys-file', join(dir, 'keys'));
    if (refusal.kind === 'suspended') args.push('--suspended', refusal.keys[0]);
    if (refusal.kind === 'blocked-ip') args.push('--blocked-ip', FLOOD_IP);
    return startPeerScript(
      'fastify-rate-limit.ts',
      args,
      'fastify peer',
      opts.keys,
      undefined,
      () => rm(dir, { recursive: true, force: true }),
    );
  },
};

/** Reference: the least a Node proxy can be (node:http + undici, 15 lines), no limits. */
const nodeMinimal: Target = {
  name: 'node-minimal',
  label: 'minimal node:http + undici proxy (no limits)',
  keyHeader: 'x-api-key',
  limits: false,
  unavailable: async () => undefined,
  start: (upstreamUrl, opts) =>
    startPeerScript('node-minimal.ts', ['--upstream', upstreamUrl], 'node-minimal', opts.keys),
};

/** Why the Bun binary cannot run here (with its error), or undefined. */
export function bunUnavailable(): string | undefined {
  const r = runBounded(BUN, ['--version'], { timeoutMs: 10_000 });
  if (r.status === 0 && !r.failed) return undefined;
  const why = (r.stderr || r.stdout).trim().split('\n').slice(-2).join(' ');
  return `bun does not run here (npm install installs the bun devDependency): ${why || `exit ${r.status}`}`;
}

/** Reference: a minimal Bun.serve + fetch proxy, the fastest other JavaScript server here. */
const bunMinimal: Target = {
  name: 'bun-minimal',
  label: 'minimal Bun.serve + fetch proxy (no limits)',
  keyHeader: 'x-api-key',
  limits: false,
  unavailable: async () => bunUnavailable(),
  start: (upstreamUrl, opts) =>
    startPeerScript('bun-minimal.ts', ['--upstream', upstreamUrl], 'bun-minimal', opts.keys, BUN),
};

/** sluice's data path with no pipeline: the floor Node's HTTP stack sets (no limiter). */
const dataPath: Target = {
  name: 'data-path',
  label: 'sluice data path alone (no limits)',
  keyHeader: 'x-api-key',
  limits: false,
  unavailable: async () => undefined,
  start: (upstreamUrl, opts) =>
    startPeerScript('sluice-data-path.ts', ['--upstream', upstreamUrl], 'data path', opts.keys),
};

const sluice: Target = {
  name: 'sluice',
  label: 'sluice (full pipeline, memory)',
  keyHeader: 'x-api-key',
  limits: true,
  refusesUnknownKeys: true,
  refusalKinds: REFUSAL_KINDS,
  unavailable: async () => undefined,
  start: (upstreamUrl, opts) => startSluice(upstreamUrl, opts),
};

/**
 * sluice on Bun: the same `sluice serve`, policy and keys as the `sluice` row, run by the
 * Bun binary (node:http's server as Bun provides it, the upstream exchange on Bun's
 * fetch: src/gateway/upstream-fetch-exchange.ts). Overhead rows only: the question is
 * the runtime's speed on the same work.
 */
const sluiceBun: Target = {
  name: 'sluice-bun',
  label: 'sluice on Bun (full pipeline, memory)',
  keyHeader: 'x-api-key',
  limits: true,
  scenarios: false,
  unavailable: async () => bunUnavailable(),
  start: (upstreamUrl, opts) => startSluice(upstreamUrl, opts, BUN),
};

/** Starts a redis-server, then the gateway on it; the gateway's stop stops both. */
async function withRedis<R extends { stop(): Promise<void> }>(
  start: (redis: BenchRedis) => Promise<R>,
): Promise<R & { helperPids: number[]; redisUrl: string }> {
  const redis = await startBenchRedis();
  try {
    const running = await start(redis);
    const stop = async () => {
      await running.stop();
      await redis.stop();
    };
    return { ...running, stop, helperPids: [redis.pid], redisUrl: redis.url };
  } catch (error) {
    await redis.stop();
    throw error;
  }
}

/** sluice with `store: { redis }` (issue 13): one Lua script per decision. */
const sluiceRedis: Target = {
  name: 'sluice-redis',
  label: 'sluice (full pipeline, Redis)',
  keyHeader: 'x-api-key',
  limits: true,
  scenarios: false,
  unavailable: async () => redisUnavailable(),
  start: (upstreamUrl, opts) =>
    withRedis((redis) => startSluice(upstreamUrl, { ...opts, redisUrl: redis.url })),
};

/** Fastify + rate-limiter-flexible's RateLimiterRedis (ioredis): the Node peer on Redis. */
const fastifyRlfRedis: Target = {
  name: 'fastify-rlf-redis',
  label: 'Fastify + rate-limiter-flexible (Redis)',
  keyHeader: 'x-api-key',
  limits: true,
  scenarios: false,
  unavailable: async () => redisUnavailable(),
  start: (upstreamUrl, opts) =>
    withRedis((redis) => {
      const { points, durationSec } = rlfWindow(opts.limit);
      const args = ['--upstream', upstreamUrl, '--redis', redis.url, '--points', String(points)];
      args.push('--duration-sec', String(durationSec));
      return startPeerScript('fastify-rlf-redis.ts', args, 'fastify-rlf-redis peer', opts.keys);
    }),
};

export const TARGETS: readonly Target[] = [
  direct,
  nginx,
  haproxy,
  fastify,
  nodeMinimal,
  bunMinimal,
  dataPath,
  sluice,
  sluiceBun,
  sluiceRedis,
  fastifyRlfRedis,
];
