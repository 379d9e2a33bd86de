/**
 * Partners behind one address (integration platforms, corporate NATs) and bursts: the
 * gateway built in-process on a manual clock, the demo upstream real. A burst that never
 * saw a 429 is refused, never punished; a block one key earned spares other accounts'
 * keys at the same address; `ip.sharedEgress` gives each account its own per-IP budget.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { TOLD_NO_GRACE_MS } from '../../src/core/safeguard/observer.ts';
import { type DemoUpstream, startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { explainIncident } from '../../src/words/explain.ts';
import {
  type InProcessGateway,
  startInProcessGateway,
  until,
} from '../helpers/in-process-gateway.ts';

const OK = '/_test/status/200';

let upstream: DemoUpstream;
const started: InProcessGateway[] = [];

before(async () => {
  upstream = await startDemoUpstream({});
});
afterEach(async () => {
  await Promise.all(started.splice(0).map((g) => g.close()));
});
after(async () => {
  await upstream.close();
});

async function start(policy: string): Promise<InProcessGateway> {
  const g = await startInProcessGateway({ upstream: upstream.url, policy });
  started.push(g);
  return g;
}

/** `n` requests in order; their statuses. */
async function statuses(g: InProcessGateway, n: number, key?: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await g.call(OK, { key })).status);
  return out;
}

test('ignoring429: a burst of 30 sent at once is refused, never suspended; going on after the 429 is', async () => {
  // Ten at once, then one a minute: the burst's other 20 are refused at once.
  const g = await start(`plans:
  standard: { base: 1/min, perUnit: 0/min, min: 1/min, max: 1/min, burst: 10, maxDelay: 0s, concurrency: 50, queue: 50 }
safeguards:
  ignoring429: { threshold: 10, window: 1m, durations: [1h] }
`);
  const { key, id } = g.addKey('acme');
  const burst = await Promise.all(Array.from({ length: 30 }, () => g.call(OK, { key })));
  const codes = burst.map((a) => a.status).sort();
  assert.equal(codes.filter((s) => s === 200).length, 10);
  assert.equal(codes.filter((s) => s === 429).length, 20);
  // Any safeguard action was decided before the answers were sent; its record store calls
  // (memory: promises already settled) are done once the pending callbacks have run.
  await new Promise((r) => setImmediate(r));
  assert.equal(g.records.getKey(id)?.status, 'active', 'a burst that saw no 429 is not punished');
  assert.equal((await g.call(OK, { key })).status, 429, 'slowed and refused, not 403');

  // Told no, the client keeps going past the grace: ten more 429s suspend the key.
  g.clock.advance(TOLD_NO_GRACE_MS);
  assert.deepEqual(await statuses(g, 10, key), Array(10).fill(429));
  await until(() => g.records.getKey(id)?.status === 'suspended', 'suspended after ignoring 429');
  assert.equal((await g.call(OK, { key })).json().rule, 'key-suspended');
});

test("a block one key earned refuses that key and keyless callers, not another account's key at the address", async () => {
  const g = await start(`plans:
  standard: { base: 600/min, perUnit: 0/min, min: 600/min, max: 600/min, burst: 100, maxDelay: 0s }
  tiny: { base: 1/min, perUnit: 0/min, min: 1/min, max: 1/min, burst: 1, maxDelay: 0s }
safeguards:
  ignoring429: { threshold: 3, window: 1m, durations: [1h] }
  afterAuthFailure: { threshold: 3, window: 1m, durations: [1h] }
`);
  const flood = g.addKey('flooder', { plan: 'tiny' });
  const calm = g.addKey('calm');
  // Both partners reach the gateway from 127.0.0.1.
  assert.deepEqual(await statuses(g, 2, flood.key), [200, 429]);
  g.clock.advance(TOLD_NO_GRACE_MS);
  // It keeps going: suspended, and still going, the auth-failure safeguard blocks the address.
  for (let i = 0; i < 12 && g.records.listIpBlocks().length === 0; i++) {
    await g.call(OK, { key: flood.key });
    await new Promise((r) => setImmediate(r)); // the safeguard's action is carried out
  }
  assert.equal(g.records.getKey(flood.id)?.status, 'suspended');
  const block = g.records.listIpBlocks()[0];
  assert.equal(block?.ip, '127.0.0.1', 'the address is blocked');

  assert.deepEqual(await statuses(g, 20, calm.key), Array(20).fill(200), 'the other partner');
  const refused = await g.call(OK, { key: flood.key });
  assert.equal(refused.json().rule, 'ip-blocked', 'the key that earned it');
  const keyless = await g.call(OK);
  assert.equal(keyless.status, 403, 'keyless traffic from the address');
  assert.equal(keyless.json().rule, 'ip-blocked');
  assert.deepEqual(block.earnedBy, { keyId: flood.id, accountId: 'flooder' });

  // The keyless caller's incident says which key earned the block, and that a safeguard did.
  const reference = keyless.json<{ reference: string }>().reference;
  await until(() => g.records.getIncident(reference) !== undefined, 'the incident is flushed');
  const why = explainIncident(g.records.getIncident(reference)!).why;
  assert.match(why, new RegExp(`^A safeguard blocked this address .* after API key ${flood.id} `));
  assert.match(why, /not other accounts' keys/);
});

test('ip.sharedEgress: two accounts on one address in the range each get the full per-IP budget', async () => {
  const limits = `plans:
  standard: { base: 600/min, perUnit: 0/min, min: 600/min, max: 600/min, burst: 100, maxDelay: 0s }
`;
  // Without the range, the two accounts share the address's 5 per minute.
  const plain = await start(`${limits}ip: { warn: 3/min, block: 5/min }\n`);
  const a1 = plain.addKey('acme');
  const b1 = plain.addKey('globex');
  assert.deepEqual(await statuses(plain, 5, a1.key), Array(5).fill(200));
  assert.equal((await plain.call(OK, { key: b1.key })).status, 429);

  const shared = await start(
    `${limits}ip: { warn: 3/min, block: 5/min, sharedEgress: [127.0.0.0/8, "::1"] }\n`,
  );
  const a = shared.addKey('acme');
  const b = shared.addKey('globex');
  assert.deepEqual(await statuses(shared, 5, a.key), Array(5).fill(200));
  assert.deepEqual(await statuses(shared, 5, b.key), Array(5).fill(200), 'its own budget');
  const over = await shared.call(OK, { key: a.key });
  assert.equal(over.status, 429);
  assert.equal(over.json().rule, 'ip-block', 'each account still meets the per-IP limit');
  // Keyless callers still count per IP: their own 5, then 429.
  assert.deepEqual(await statuses(shared, 6), [200, 200, 200, 200, 200, 429]);
});
