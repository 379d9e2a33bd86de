/**
 * The Node peer on Redis: Fastify + rate-limiter-flexible's RateLimiterRedis (ioredis,
 * auto-pipelining on, as its docs advise for throughput) + @fastify/reply-from to the
 * upstream. Two limiters, as sluice keeps two: one per client IP and one per API key,
 * each a `consume` in an `onRequest` hook, in turn (the key only when the IP passed),
 * 429 with Retry-After when either refuses. What a Node team sharing limits over Redis
 * would build by hand.
 *
 * Standalone server, run pinned by the benchmark:
 *   node bench/peers/fastify-rlf-redis.ts --redis redis://127.0.0.1:6379 \
 *     --upstream http://127.0.0.1:4000 --points 10 --duration-sec 60
 * prints `listening http://127.0.0.1:PORT` once ready. rate-limiter-flexible has no
 * burst: `--points` per fixed `--duration-sec` window, like @fastify/rate-limit.
 */
import { parseArgs } from 'node:util';
import replyFrom from '@fastify/reply-from';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Limit } from '../lib/target-types.ts';

/** A limit in rate-limiter-flexible's terms: whole per-second rates per second, else per minute. */
export function rlfWindow(limit: Limit): { points: number; durationSec: number } {
  return limit.perMinute % 60 === 0
    ? { points: limit.perMinute / 60, durationSec: 1 }
    : { points: limit.perMinute, durationSec: 60 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      upstream: { type: 'string' },
      redis: { type: 'string' },
      points: { type: 'string', default: '1000000000' },
      'duration-sec': { type: 'string', default: '60' },
    },
  });
  if (values.upstream === undefined) throw new Error('--upstream URL is required');
  if (values.redis === undefined) throw new Error('--redis URL is required');
  const client = new Redis(values.redis, { enableAutoPipelining: true });
  const duration = Number(values['duration-sec']);
  const points = Number(values.points);
  // The IP limit far above any load (all of it comes from 127.0.0.1), as sluice's.
  const byIp = new RateLimiterRedis({
    storeClient: client,
    points: 2e9,
    duration: 60,
    keyPrefix: 'ip',
  });
  const byKey = new RateLimiterRedis({ storeClient: client, points, duration, keyPrefix: 'key' });
  const app = Fastify({ logger: false });
  app.addHook('onRequest', async (req, reply) => {
    const key = req.headers['x-api-key'];
    try {
      await byIp.consume(req.ip, 1);
      await byKey.consume(typeof key === 'string' && key !== '' ? key : req.ip, 1);
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      reply.header('retry-after', String(Math.ceil(error.msBeforeNext / 1000)));
      return reply.code(429).send({ error: 'rate-limited' });
    }
  });
  await app.register(replyFrom, {
    base: values.upstream,
    undici: { connections: 64, pipelining: 1, keepAliveTimeout: 120_000 },
  });
  app.get('/*', (req, reply) => reply.from(req.url));
  const address = await app.listen({ host: '127.0.0.1', port: Number(values.port) });
  process.stdout.write(`listening ${address}\n`);
  process.on('SIGTERM', () => {
    client.disconnect();
    process.exit(0);
  });
}

if (import.meta.main) {
  await main();
}
