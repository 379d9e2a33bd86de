/**
 * The gateways measured, in the order each round runs them. Every server is pinned to
 * core 0 (with the upstream); the load generator gets core 1.
 *
 * Slot for later (issue 5): `sluice-redis` (sluice on Redis) next to
 * `fastify-rlf-redis` (Fastify + rate-limiter-flexible on Redis): add them here as two
 * more `Target`s; nothing else in the harness changes.
 *
 * @example
 *   for (const t of TARGETS) if (!(await t.unavailable())) await t.start(upstream, opts);
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnPinned } from './lib/procs.ts';
import { syntheticKeys, type Target } from './lib/target-types.ts';
import { fastifyWindow } from './peers/fastify-rate-limit.ts';
import { nginxUnavailable, startNginx } from './peers/nginx.ts';
import { startSluice } from './peers/sluice.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

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
  unavailable: async () => nginxUnavailable(),
  async start(upstreamUrl, opts) {
    const running = await startNginx(upstreamUrl, opts.limit);
    return { ...running, keys: syntheticKeys(opts.keys) };
  },
};

/** Starts a standalone peer server (bench/peers/NAME.ts) pinned to core 0. */
async function startPeerScript(script: string, args: string[], name: string, keys: number) {
  const child = spawnPinned(0, process.execPath, [join(ROOT, 'bench', 'peers', script), ...args], {
    cwd: ROOT,
    name,
    env: { ...process.env, NODE_ENV: 'production' },
  });
  try {
    const m = await child.waitForLine(/listening (http:\/\/\S+)/, 10_000);
    return { url: m[1], keys: syntheticKeys(keys), stop: () => child.stop(), pid: child.pid };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

const fastify: Target = {
  name: 'fastify',
  label: 'Fastify + @fastify/rate-limit',
  keyHeader: 'x-api-key',
  limits: true,
  unavailable: async () => undefined,
  start(upstreamUrl, opts) {
    const { max, windowMs } = fastifyWindow(opts.limit);
    const args = ['--upstream', upstreamUrl, '--max', String(max), '--window-ms', String(windowMs)];
    return startPeerScript('fastify-rate-limit.ts', args, 'fastify peer', opts.keys);
  },
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
  unavailable: async () => undefined,
  start: (upstreamUrl, opts) => startSluice(upstreamUrl, opts),
};

export const TARGETS: readonly Target[] = [direct, nginx, fastify, dataPath, sluice];
