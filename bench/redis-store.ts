/**
 * Decisions per second of the decision engine on the Redis store against the memory
 * store, and rate-limiter-flexible's RateLimiterRedis (ioredis) on the same Redis, in
 * one run: a redis-server is started on a free loopback port for it and stopped after.
 *
 * One decision = one per-IP check + one per-account check, all allowed, over 10,000
 * keys. sluice on memory: `engine.admit()` synchronously. On Redis: `engine.admit()`
 * awaited with `--inflight` decisions at once (one script per decision, auto-pipelined),
 * and one at a time (the round trip). rate-limiter-flexible: `consume` on an IP limiter
 * and an account limiter, in turn, each awaited, with the same decisions in flight.
 * Each phase runs `--seconds` (default 2) after a warm-up of half that: bounded. Each row
 * also gives the CPU per decision of this process and of redis-server (from /proc),
 * steadier than the rate on a shared machine.
 *
 *   node bench/redis-store.ts                # the table
 *   node bench/redis-store.ts --inflight 128 --seconds 3
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { systemClock } from '../src/core/clock.ts';
import { createEngine } from '../src/core/engine.ts';
import type { LimitStore } from '../src/core/limiter/types.ts';
import { MemoryLimitStore } from '../src/store/memory-limit-store.ts';
import { RedisLimitStore } from '../src/store/redis-limit-store.ts';
import { RedisLink } from '../src/store/redis-link.ts';
import { startRedis } from '../test/helpers/redis-server.ts';
import { perMinute, testPolicy } from '../test/unit/helpers/policy-fixture.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const at = args.indexOf(`--${name}`);
  return at < 0 ? fallback : Number(args[at + 1]);
};
const SECONDS = option('seconds', 2);
const INFLIGHT = option('inflight', 64);
const KEYS = 5_000; // IPs and accounts each

const policy = testPolicy({
  ip: { warn: perMinute(1e9), block: perMinute(2e9), concurrency: 32, sharedEgress: [] },
});
const plan = {
  ...policy.plans.standard,
  base: perMinute(1e9),
  min: perMinute(1e9),
  max: perMinute(1e9),
  burst: 1e9,
};
const bigPolicy = { ...policy, plans: { ...policy.plans, standard: plan } };
const ips = Array.from({ length: KEYS }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
const accounts = Array.from({ length: KEYS }, (_, i) => ({
  id: `acct-${i}`,
  size: 0,
  plan: 'standard',
}));
const input = (i: number) => ({ ip: ips[i % KEYS], account: accounts[(i * 7) % KEYS], cost: 1 });

/** Runs `decide` with `inflight` at once for `ms`; decisions per second. */
async function measure(decide: (i: number) => unknown, inflight: number, ms: number) {
  let n = 0;
  const until = performance.now() + ms;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (performance.now() < until) {
        for (let k = 0; k < 16; k++) await decide(n++);
      }
    }),
  );
  return n / ((performance.now() - start) / 1000);
}

/** CPU ms (user + system) of process `pid` so far, from /proc. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks at 100 Hz
}

/**
 * One row: decisions per second, and the CPU each decision took in this process and in
 * redis-server (µs). On a shared machine the rate moves with the neighbours' load; the CPU
 * per decision much less, so before/after comparisons use it.
 */
async function phase(name: string, decide: (i: number) => unknown, inflight: number) {
  await measure(decide, inflight, SECONDS * 500); // warm-up
  const [node, server] = [process.cpuUsage(), cpuMs(redis.pid)];
  const start = performance.now();
  const rate = await measure(decide, inflight, SECONDS * 1000);
  const decisions = (rate * (performance.now() - start)) / 1000;
  const used = process.cpuUsage(node);
  const nodeUs = (used.user + used.system) / decisions;
  const redisUs = ((cpuMs(redis.pid) - server) * 1000) / decisions;
  console.log(
    `${name.padEnd(44)} ${Math.round(rate).toLocaleString('en').padStart(12)} decisions/s` +
      `  CPU µs/decision: node ${nodeUs.toFixed(1)}, redis ${redisUs.toFixed(1)}`,
  );
  return rate;
}

function syncLoop(store: LimitStore): (i: number) => unknown {
  const engine = createEngine({ policy: bigPolicy, store, clock: systemClock });
  return (i) => engine.admit(input(i));
}

const redis = await startRedis();
try {
  const memory = await phase(
    'sluice, memory store (synchronous)',
    syncLoop(new MemoryLimitStore()),
    1,
  );
  const link = new RedisLink({ url: redis.url }, { timeoutMs: 1000 });
  await link.ready(5000);
  const store = new RedisLimitStore(link, 'bench:');
  const engine = createEngine({ policy: bigPolicy, store, clock: systemClock });
  const onRedis = await phase(
    `sluice, Redis store, ${INFLIGHT} in flight`,
    (i) => engine.admit(input(i)),
    INFLIGHT,
  );
  const oneByOne = await phase(
    'sluice, Redis store, one at a time',
    (i) => engine.admit(input(i)),
    1,
  );
  const client = new Redis(redis.url, { enableAutoPipelining: true });
  const ipLimiter = new RateLimiterRedis({
    storeClient: client,
    points: 2e9,
    duration: 60,
    keyPrefix: 'rlf-ip',
  });
  const acctLimiter = new RateLimiterRedis({
    storeClient: client,
    points: 1e9,
    duration: 60,
    keyPrefix: 'rlf-acct',
  });
  const rlf = await phase(
    `rate-limiter-flexible Redis, ${INFLIGHT} in flight`,
    async (i) => {
      const { ip, account } = input(i);
      await ipLimiter.consume(ip, 1);
      await acctLimiter.consume(account.id, 1);
    },
    INFLIGHT,
  );
  console.log(
    `\nRedis store / memory store: ${(onRedis / memory).toFixed(3)}; one at a time: ${Math.round(1e6 / oneByOne)} µs per decision; sluice / rate-limiter-flexible on Redis: ${(onRedis / rlf).toFixed(2)}`,
  );
  client.disconnect();
  link.close();
} finally {
  await redis.stop('SIGTERM');
}
