/**
 * The safeguards' tally in a real redis-server: the contract suite (with two "nodes",
 * two connections, sharing the counts), and the insurance counting alone while Redis is
 * not answering.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MemoryTally } from '../../src/core/safeguard/tally.ts';
import { RedisLink } from '../../src/store/redis-link.ts';
import { RedisTally } from '../../src/store/redis-tally.ts';
import { runTallyContract } from '../contract/safeguard-tally.contract.ts';
import { type RedisProcess, startRedis } from '../helpers/redis-server.ts';

let redis: RedisProcess;
const links: RedisLink[] = [];
before(async () => {
  redis = await startRedis();
});
after(async () => {
  for (const link of links) link.close();
  await redis?.stop();
});

async function link(): Promise<RedisLink> {
  const made = new RedisLink({ url: redis.url }, { timeoutMs: 1000 });
  links.push(made);
  assert.ok(await made.ready(10_000), 'connected to redis');
  return made;
}
const caps = { maxSubjects: 1_000, maxOffenders: 1_000 };
const PREFIX = `tally${process.pid}:`;

runTallyContract(
  'redis',
  async () => new RedisTally(await link(), PREFIX, new MemoryTally(caps)),
  async () => new RedisTally(await link(), PREFIX, new MemoryTally(caps)),
);

test('redis tally: Redis not answering, the insurance counts this node alone', async () => {
  const made = await link();
  let fallbacks = 0;
  const tally = new RedisTally(made, `${PREFIX}down:`, new MemoryTally(caps), {
    onFallback: () => fallbacks++,
  });
  made.down(new Error('test: Redis is down'));
  const step = {
    now: 0,
    windowMs: 60_000,
    buckets: 30,
    threshold: 2,
    historyMs: 3_600_000,
    quietMs: [60_000],
    blockIp: true,
  };
  assert.deepEqual(await tally.add('afterAuthFailure', 'i:192.0.2.9', step), {
    total: 1,
    offence: 0,
  });
  assert.deepEqual(await tally.add('afterAuthFailure', 'i:192.0.2.9', { ...step, now: 1 }), {
    total: 2,
    offence: 1,
  });
  assert.equal(fallbacks, 2);
  assert.equal(tally.ipBlockedUntil('i:192.0.2.9', 2), 60_001);
});
