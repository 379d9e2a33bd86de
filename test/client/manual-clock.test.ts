/**
 * sluice-client against the real gateway built in-process on a manual clock, the client
 * on the same clock: the 429 pause, the off-hours wait and the export allowance are
 * driven by `clock.advance`, never by sleeping.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type ClientClock,
  createClient,
  memoryCheckpoint,
  type SluiceClient,
  SluiceLocalRefusal,
  SluiceRefusal,
} from 'sluice-client';
import type { ManualClock } from '../../src/core/clock.ts';
import { call } from '../helpers/http.ts';
import { type InProcessGateway, inProcessSuite, until } from '../helpers/in-process-gateway.ts';

const suite = inProcessSuite();

/** A fresh gateway, and the upstream's hit counts zeroed (the upstream is shared by the file). */
async function start(startAt?: number): Promise<InProcessGateway> {
  await call(`${suite.upstream().url}/_test/hits/reset`, { method: 'POST' });
  return suite.start('', startAt === undefined ? {} : { startAt });
}

/** The client's view of the gateway's manual clock. */
function clientClock(clock: ManualClock): ClientClock {
  return { now: () => clock.now(), sleep: (ms) => new Promise((r) => clock.after(ms, r)) };
}

function clientOf(gw: InProcessGateway, extra: { retries?: number } = {}): SluiceClient {
  const { key } = gw.addKey('acme');
  return createClient({
    baseUrl: gw.url,
    key,
    clock: clientClock(gw.clock),
    checkpoint: memoryCheckpoint(),
    ...extra,
  });
}

/** Settled yet? (without waiting for it) */
function settled(p: Promise<unknown>): () => boolean {
  let done = false;
  p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  return () => done;
}

test('a 429 pauses every caller of the client for Retry-After, then it goes on slower', async () => {
  const gw = await start();
  const client = clientOf(gw, { retries: 0 });
  const refused = client.request('/_test/status/429?retryAfter=60');
  const b = client.request('/api/companies/cmp-0001');
  const c = client.request('/api/companies/cmp-0002');
  await assert.rejects(refused, (e) => e instanceof SluiceRefusal && e.status === 429);
  const bDone = settled(b);
  const cDone = settled(c);
  // Both callers are held by the client itself: nothing reaches the API.
  await until(() => gw.clock.pending() > 0, 'the client waits on the clock');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(await suite.hits('/api/companies/cmp-0001'), 0);
  gw.clock.advance(59_000);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(await suite.hits('/api/companies/cmp-0001'), 0, 'still paused at 59 s');
  assert.equal(bDone() || cDone(), false);

  gw.clock.advance(1_000);
  assert.equal((await b).status, 200);
  assert.equal(await suite.hits('/api/companies/cmp-0001'), 1);
  // Slower afterwards: at half the account's rate (60/min → one every 2 s), not at once.
  gw.clock.advance(1_900);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(cDone(), false, 'the next request waits for the slower pace');
  assert.equal(await suite.hits('/api/companies/cmp-0002'), 0);
  gw.clock.advance(200);
  assert.equal((await c).status, 200);
  assert.equal(client.stats.refused, 1);
});

for (const [season, startAt, windowStart] of [
  // Monday 07:00 in New York (EST, UTC−5): the next window is Tuesday 01:00 EST = 06:00 UTC.
  ['winter', Date.UTC(2026, 0, 5, 12), Date.UTC(2026, 0, 6, 6)],
  // Monday 08:00 in New York (EDT, UTC−4): Tuesday 01:00 EDT = 05:00 UTC.
  ['summer', Date.UTC(2026, 6, 6, 12), Date.UTC(2026, 6, 7, 5)],
] as const) {
  test(`a first full sync outside the off-hours window waits for it and starts inside it (${season})`, async () => {
    const gw = await start(startAt);
    const { key } = gw.addKey('acme');
    const startedAt: number[] = [];
    const client = createClient({
      baseUrl: gw.url,
      key,
      clock: clientClock(gw.clock),
      checkpoint: memoryCheckpoint(),
      fetch: (input, init) => {
        if (String(input).includes('/api/')) startedAt.push(gw.clock.now());
        return fetch(input, init);
      },
    });
    const waits: string[] = [];
    const sync = client.sync('companies', {
      pageSize: 20,
      onProgress: (p) => {
        if (p.phase === 'waiting-window') waits.push(p.until!);
      },
    });
    const done = settled(sync);
    await until(() => waits.length === 1, 'the sync says it waits for the window');
    assert.equal(waits[0], new Date(windowStart).toISOString());
    gw.clock.advance(windowStart - startAt - 60_000);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await suite.hits('/api/companies'), 0, 'nothing sent a minute before the window');
    assert.equal(done(), false);

    gw.clock.advance(60_000);
    const result = await sync;
    assert.equal(result.full, true);
    assert.equal(result.records, 50);
    assert.equal(startedAt.length, 3);
    assert.ok(startedAt[0] >= windowStart, 'the first request is inside the window');
    assert.equal(await suite.hits('/api/companies'), 3);
  });
}

test('a full sync with force starts at once, outside the window', async () => {
  const gw = await start();
  const client = clientOf(gw);
  const result = await client.sync('companies', { force: true });
  assert.equal(result.records, 50);
  assert.equal(await suite.hits('/api/companies'), 1);
});

test('an export asked twice in a month makes one call; the second is refused with the next allowed date', async () => {
  const gw = await start();
  const client = clientOf(gw);
  const first = await client.exportOnce('companies');
  assert.equal(first.status, 200);
  const lines = (await first.text()).trim().split('\n');
  assert.equal(lines.length, 50);

  gw.clock.advance(10 * 86_400_000);
  await assert.rejects(client.exportOnce('companies'), (e) => {
    assert.ok(e instanceof SluiceLocalRefusal);
    assert.equal(e.code, 'SLUICE_CLIENT_EXPORT_USED');
    assert.equal(e.nextAllowedAt?.getTime(), gw.clock.now() - 10 * 86_400_000 + 30 * 86_400_000);
    assert.match(e.message, /next export is allowed from 2026-02-04T12:00:00\.000Z/);
    return true;
  });
  assert.equal(await suite.hits('/api/exports/companies'), 1, 'the second ask made no call');

  // Another dataset has its own allowance; and after 30 days the next export is allowed.
  assert.equal((await client.exportOnce('devices')).status, 200);
  gw.clock.advance(20 * 86_400_000);
  const again = await client.exportOnce('companies');
  assert.equal(again.status, 200);
  await again.body?.cancel();
  assert.equal(await suite.hits('/api/exports/companies'), 2);
});
