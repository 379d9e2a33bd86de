/**
 * Retries: 5xx and network errors with capped exponential back-off and jitter, for
 * idempotent methods only; concurrency within what the gateway publishes. The client's
 * clock records each wait instead of sleeping it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ClientClock, createClient, memoryCheckpoint, SluiceClientError } from 'sluice-client';
import { call, closedPortUrl } from '../helpers/http.ts';
import { inProcessSuite } from '../helpers/in-process-gateway.ts';

const suite = inProcessSuite();

/** A clock whose sleeps are recorded and pass at once (time moves by them). */
function recordingClock(): ClientClock & { slept: number[] } {
  let t = Date.UTC(2026, 0, 5, 12);
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    async sleep(ms) {
      slept.push(ms);
      t += ms;
    },
  };
}

test('a GET answered 503 is retried with capped exponential back-off and full jitter, then the answer is returned', async () => {
  await call(`${suite.upstream().url}/_test/hits/reset`, { method: 'POST' });
  const gw = await suite.start();
  const clock = recordingClock();
  const client = createClient({
    baseUrl: gw.url,
    key: gw.addKey('acme').key,
    clock,
    checkpoint: memoryCheckpoint(),
    retries: 5,
    backoff: { baseMs: 1_000, capMs: 8_000 },
    random: () => 0.999,
  });
  const res = await client.request('/_test/status/503');
  assert.equal(res.status, 503);
  assert.equal(await suite.hits('/_test/status/503'), 6, 'one request and five retries');
  assert.deepEqual(
    clock.slept.map((ms) => Math.round(ms / 100) * 100),
    [1_000, 2_000, 4_000, 8_000, 8_000],
    'doubling, capped at 8 s',
  );
  assert.equal(client.stats.retries, 5);
});

test('network errors are retried for GET, never for POST', async () => {
  const url = await closedPortUrl();
  const attempts: string[] = [];
  const clock = recordingClock();
  const client = createClient({
    baseUrl: url,
    key: 'sk_a_b',
    clock,
    checkpoint: memoryCheckpoint(),
    retries: 3,
    random: () => 0.5,
    fetch: (input, init) => {
      if (!String(input).includes('/.well-known/')) attempts.push(init?.method ?? 'GET');
      return fetch(input, init);
    },
  });
  await assert.rejects(
    client.request('/api/jobs'),
    (e) => e instanceof SluiceClientError && e.code === 'SLUICE_CLIENT_NETWORK',
  );
  assert.deepEqual(attempts, ['GET', 'GET', 'GET', 'GET']);
  assert.deepEqual(clock.slept, [500, 1_000, 2_000], 'half of each back-off: the jitter drawn');
  attempts.length = 0;
  await assert.rejects(
    client.request('/api/jobs', { method: 'POST', body: '{}' }),
    SluiceClientError,
  );
  assert.deepEqual(attempts, ['POST']);
});

test('concurrency is raised only within the plan published at /.well-known/sluice', async () => {
  const gw = await suite.start('plans:\n  standard:\n    concurrency: 2\n');
  let open = 0;
  let most = 0;
  const client = createClient({
    baseUrl: gw.url,
    key: gw.addKey('acme').key,
    checkpoint: memoryCheckpoint(),
    concurrency: 10,
    fetch: async (input, init) => {
      open++;
      most = Math.max(most, open);
      try {
        return await fetch(input, init);
      } finally {
        open--;
      }
    },
  });
  await Promise.all(
    Array.from({ length: 8 }, (_, i) => client.request(`/_test/slow?ms=${20 + i}`)),
  );
  assert.equal(most, 2, 'asked for 10, the plan publishes 2');
});
