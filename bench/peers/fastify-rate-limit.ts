/**
 * The Node peer: Fastify + @fastify/rate-limit (keyed by `x-api-key`, in-memory store)
 * + @fastify/reply-from to the upstream. What a Node team would build by hand.
 *
 * Standalone server, run pinned by the benchmark:
 *   node bench/peers/fastify-rate-limit.ts --port 0 --upstream http://127.0.0.1:4000 \
 *     --max 10 --window-ms 60000
 * prints `listening http://127.0.0.1:PORT` once ready. @fastify/rate-limit has no
 * burst: `--max` requests per fixed `--window-ms` window.
 *
 * For the per-kind refusal floods (bench/refusal-kinds.ts) an `onRequest` hook, run
 * before the rate limit, answers as a Node team would by hand: `--blocked-ip IP` 403,
 * a key not in `--keys-file` 401, the `--suspended KEY` 403.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import rateLimit from '@fastify/rate-limit';
import replyFrom from '@fastify/reply-from';
import Fastify from 'fastify';
import type { Limit } from '../lib/target-types.ts';

/**
 * A limit in @fastify/rate-limit's terms: whole per-second rates as a one-second
 * window (closest to a token bucket), anything else as a one-minute window.
 */
export function fastifyWindow(limit: Limit): { max: number; windowMs: number } {
  return limit.perMinute % 60 === 0
    ? { max: limit.perMinute / 60, windowMs: 1000 }
    : { max: limit.perMinute, windowMs: 60_000 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      upstream: { type: 'string' },
      max: { type: 'string', default: '1000000000' },
      'window-ms': { type: 'string', default: '60000' },
      'keys-file': { type: 'string' },
      suspended: { type: 'string' },
      'blocked-ip': { type: 'string' },
    },
  });
  if (values.upstream === undefined) throw new Error('--upstream URL is required');
  const app = Fastify({ logger: false });
  const valid = values['keys-file']
    ? new Set(readFileSync(values['keys-file'], 'utf8').split('\n').filter(Boolean))
    : undefined;
  const { suspended, 'blocked-ip': blockedIp } = values;
  if (valid !== undefined || blockedIp !== undefined) {
    app.addHook('onRequest', (req, reply, done) => {
      const key = req.headers['x-api-key'];
      if (blockedIp !== undefined && req.socket.remoteAddress === blockedIp) {
        return reply.code(403).send({ error: 'ip-blocked' });
      }
      if (valid !== undefined && (typeof key !== 'string' || !valid.has(key))) {
        return reply.code(401).send({ error: 'key-unknown' });
      }
      if (key === suspended) return reply.code(403).send({ error: 'key-suspended' });
      done();
    });
  }
  await app.register(rateLimit, {
    max: Number(values.max),
    timeWindow: Number(values['window-ms']),
    keyGenerator: (req) => {
      const key = req.headers['x-api-key'];
      return typeof key === 'string' && key !== '' ? key : req.ip;
    },
  });
  await app.register(replyFrom, {
    base: values.upstream,
    undici: { connections: 64, pipelining: 1, keepAliveTimeout: 120_000 },
  });
  app.get('/*', (req, reply) => reply.from(req.url));
  const address = await app.listen({ host: '127.0.0.1', port: Number(values.port) });
  process.stdout.write(`listening ${address}\n`);
  process.on('SIGTERM', () => process.exit(0));
}

if (import.meta.main) {
  await main();
}
