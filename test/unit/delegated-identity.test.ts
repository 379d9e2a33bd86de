/**
 * The delegated-identity cache against a small real endpoint (node:http on loopback),
 * on a manual clock: an answer is kept for its TTL (no call while it is fresh), unknown
 * credentials for the negative TTL, each cache bounded by maxEntries, concurrent
 * lookups of one credential share one call, a held endpoint fails at the timeout, and
 * the outage is logged once.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { hashApiKey } from '../../src/core/api-key.ts';
import { manualClock } from '../../src/core/clock.ts';
import type { DelegatePolicy } from '../../src/core/policy/types.ts';
import { createDelegatedIdentity } from '../../src/gateway/delegated-identity.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import { startIdentityEndpoint } from '../helpers/identity-endpoint.ts';

const T0 = Date.UTC(2026, 0, 5, 12);
const endpoint = await startIdentityEndpoint({
  'partner-1': { account: 'acme', size: 12, plan: 'enterprise' },
  'partner-2': { account: 'globex' },
});
after(() => endpoint.close());

function delegate(over: Partial<DelegatePolicy> = {}) {
  const clock = manualClock(T0);
  const log: string[] = [];
  const registry = new Registry();
  const lookups = new Counter({
    name: 'lookups',
    help: 'h',
    labelNames: ['result'],
    registers: [registry],
  });
  const d = createDelegatedIdentity({
    policy: {
      url: endpoint.url,
      timeoutMs: 2_000,
      ttlMs: 300_000,
      negativeTtlMs: 60_000,
      maxEntries: 100,
      onFailure: 'refuse',
      ...over,
    },
    clock,
    logger: createLogger({ destination: { write: (line: string) => void log.push(line) } }),
    lookups,
  });
  /** The cached answer, else a lookup: what the gateway does per request. */
  const ask = async (credential: string) =>
    d.cached(hashApiKey(credential)) ?? (await d.lookup(credential, hashApiKey(credential)));
  const count = async (result: string) =>
    (await registry.getSingleMetric('lookups')?.get())?.values.find(
      (v) => v.labels.result === result,
    )?.value ?? 0;
  return { d, clock, ask, log, count };
}

test('an account answer is kept for its TTL: cached hits make no call', async () => {
  const { clock, ask, count } = delegate();
  const before = endpoint.calls;
  assert.deepEqual(await ask('partner-1'), {
    kind: 'account',
    account: { id: 'acme', size: 12, plan: 'enterprise' },
  });
  assert.deepEqual(await ask('partner-2'), {
    kind: 'account',
    account: { id: 'globex', size: 1, plan: '' },
  });
  for (let i = 0; i < 50; i++) assert.equal((await ask('partner-1')).kind, 'account');
  assert.equal(endpoint.calls - before, 2, 'one call per credential');
  assert.equal(await count('hit'), 50);
  clock.advance(299_999);
  await ask('partner-1');
  assert.equal(endpoint.calls - before, 2, 'still fresh');
  clock.advance(1);
  await ask('partner-1');
  assert.equal(endpoint.calls - before, 3, 'asked again once the TTL is over');
});

test('unknown credentials: a flood of one asks once per negative TTL; maxEntries bounds the cache', async () => {
  const { clock, ask } = delegate({ maxEntries: 3 });
  const before = endpoint.calls;
  for (let i = 0; i < 100; i++) assert.equal((await ask('made-up')).kind, 'unknown');
  assert.equal(endpoint.calls - before, 1);
  clock.advance(60_000);
  await ask('made-up');
  assert.equal(endpoint.calls - before, 2, 'asked again after the negative TTL');
  // Three more made-up keys fill the cache of 3: the first is forgotten, the rest kept.
  for (const k of ['x1', 'x2', 'x3']) await ask(k);
  assert.equal(endpoint.calls - before, 5);
  for (const k of ['x1', 'x2', 'x3']) await ask(k);
  assert.equal(endpoint.calls - before, 5, 'the newest three are cached');
  await ask('made-up');
  assert.equal(endpoint.calls - before, 6, 'the oldest was forgotten: the cache holds maxEntries');
});

test('concurrent lookups of one credential share one call', async () => {
  const { d } = delegate();
  const before = endpoint.calls;
  endpoint.mode = 'hold';
  try {
    const hash = hashApiKey('partner-2');
    const answers = Array.from({ length: 20 }, () => d.lookup('partner-2', hash));
    // Bounded wait on what is observable: the one call reaching the endpoint.
    for (let i = 0; i < 400 && endpoint.calls === before; i++)
      await new Promise((r) => setTimeout(r, 5));
    endpoint.release();
    const got = await Promise.all(answers);
    assert.ok(got.every((a) => a.kind === 'account'));
    assert.equal(endpoint.calls - before, 1);
  } finally {
    endpoint.mode = 'answer';
  }
});

test('a held endpoint fails at the timeout; 500s fail; the outage is logged once and its end once', async () => {
  const { ask, log, count, clock } = delegate({ timeoutMs: 150 });
  endpoint.mode = 'hold';
  try {
    const started = performance.now();
    assert.equal((await ask('partner-1')).kind, 'failed');
    const waited = performance.now() - started;
    assert.ok(waited >= 140 && waited < 2_000, `waited ${waited} ms, the timeout is 150`);
    endpoint.mode = 'fail';
    assert.equal((await ask('partner-2')).kind, 'failed');
    // A failure is kept briefly: the endpoint is not asked per request while it is down.
    const calls = endpoint.calls;
    assert.equal((await ask('partner-2')).kind, 'failed');
    assert.equal(endpoint.calls, calls);
    assert.equal(await count('failed'), 2);
    const failures = log.filter((l) => l.includes('"delegate-failure"'));
    assert.equal(failures.length, 1, 'one log line per outage');
    assert.match(failures[0], /no answer within 150 ms/);
    endpoint.mode = 'answer';
    clock.advance(5_000);
    assert.equal((await ask('partner-2')).kind, 'account');
    assert.equal(log.filter((l) => l.includes('"delegate-recovered"')).length, 1);
    assert.ok(!log.join('').includes('partner-'), 'credentials are never logged');
  } finally {
    endpoint.mode = 'answer';
    endpoint.release();
  }
});
