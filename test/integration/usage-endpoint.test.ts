/**
 * `GET /.well-known/sluice/usage`, in-process on the manual clock in front of the real
 * demo upstream: the caller's own rate, remaining budget, reset and current delay to
 * the millisecond, its incidents with explanations, its next bulk export, the off-hours
 * windows; it spends nothing, needs the caller's own key, and shows nothing of another
 * account.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call } from '../helpers/http.ts';
import { type InProcessGateway, inProcessSuite, T0, until } from '../helpers/in-process-gateway.ts';

const suite = inProcessSuite();

const USAGE = '/.well-known/sluice/usage';
const OK = '/_test/status/200';
const MONTH = 30 * 86_400_000;

/** Two at once, then one every 10 s, slowed up to 30 s. */
const POLICY = `plans:
  standard: { base: 6/min, perUnit: 0/min, min: 6/min, max: 6/min, burst: 2, maxDelay: 30s, concurrency: 3, queue: 5 }
`;

async function start(policy = POLICY): Promise<InProcessGateway> {
  await call(`${suite.upstream().url}/_test/hits/reset`, { method: 'POST' });
  return suite.start(policy);
}

/** Exports `dataset` twice: the second is refused; returns its reference once saved. */
async function exportTwice(g: InProcessGateway, key: string, dataset: string): Promise<string> {
  assert.equal((await g.call(`/api/exports/${dataset}`, { key })).status, 200);
  const refused = await g.call(`/api/exports/${dataset}`, { key });
  assert.equal(refused.status, 429);
  const reference = refused.json<{ reference: string }>().reference;
  await until(() => g.records.getIncident(reference) !== undefined, 'the incident is saved');
  return reference;
}

test("the usage page: the caller's own rate, budget, delay, incidents, exports and windows, exactly", async () => {
  const g = await start();
  const acme = g.addKey('acme');
  const beta = g.addKey('beta');
  const acmeRef = await exportTwice(g, acme.key, 'companies');
  const betaRef = await exportTwice(g, beta.key, 'devices');
  // A minute on, both budgets are whole again; acme then spends its burst.
  g.clock.advance(60_000);
  assert.equal((await g.call(OK, { key: acme.key })).status, 200);
  assert.equal((await g.call(OK, { key: acme.key })).status, 200);

  const answer = await g.call(USAGE, { key: acme.key });
  assert.equal(answer.status, 200);
  assert.equal(answer.headers['cache-control'], 'no-store');
  const body = answer.json<Record<string, unknown>>();
  const incidents = body.incidents as Record<string, unknown>[];
  assert.equal(incidents.length, 1);
  const [incident] = incidents;
  assert.deepEqual(
    { ...body, incidents: undefined },
    {
      account: 'acme',
      plan: 'standard',
      size: 0,
      at: new Date(T0 + 60_000).toISOString(),
      mode: 'enforce',
      rate: {
        limit: 6,
        periodSec: 60,
        burst: 2,
        remaining: 0,
        resetSec: 20,
        delayMs: 10_000,
        maxDelayMs: 30_000,
      },
      routes: [{ route: 'full-listing', limit: 30, periodSec: 60, remaining: 30, resetSec: 0 }],
      concurrency: 3,
      queue: 5,
      incidents: undefined,
      bulkExports: [
        {
          dataset: 'companies',
          allowed: 1,
          periodSec: MONTH / 1000,
          used: 1,
          nextAllowedAt: new Date(T0 + MONTH).toISOString(),
        },
      ],
      offHours: {
        timeZone: 'America/New_York',
        current: null,
        // Monday 07:00 in New York: the next window is the daily one, Tuesday 01:00-03:00 EST.
        next: { from: '2026-01-06T06:00:00.000Z', to: '2026-01-06T08:00:00.000Z' },
        batchMultiplier: 4,
        confineBatch: false,
      },
    },
  );
  assert.equal(incident!.reference, acmeRef);
  assert.equal(incident!.rule, 'bulk-export');
  assert.equal(incident!.requests, 1);
  assert.equal(incident!.shadow, false);
  assert.equal(incident!.startedAt, new Date(T0).toISOString());
  assert.match(String(incident!.what), /export/i);
  assert.equal(typeof incident!.fix, 'string');

  // Nothing of the other account, in either direction.
  const text = JSON.stringify(body);
  assert.ok(!text.includes('beta') && !text.includes(betaRef) && !text.includes('devices'));
  const theirs = (await g.call(USAGE, { key: beta.key })).json<Record<string, unknown>>();
  assert.equal(theirs.account, 'beta');
  assert.deepEqual(
    (theirs.incidents as { reference: string }[]).map((i) => i.reference),
    [betaRef],
  );
  assert.deepEqual(
    (theirs.bulkExports as { dataset: string }[]).map((e) => e.dataset),
    ['devices'],
  );
  assert.ok(!JSON.stringify(theirs).includes('acme') && !JSON.stringify(theirs).includes(acmeRef));

  // The page spent nothing: the next request is slowed exactly as it said.
  const again = await g.call(USAGE, { key: acme.key });
  assert.deepEqual(again.json<{ rate: unknown }>().rate, (body as { rate: unknown }).rate);
  const slowed = g.call(OK, { key: acme.key });
  await until(() => g.clock.pending() === 1, 'the hold is armed');
  g.clock.advance(10_000);
  assert.equal((await slowed).headers['sluice-delay-ms'], '10000');
  assert.equal(await suite.hits(USAGE), 0, 'never forwarded');
});

test('the usage page needs a known key: none or an unknown one is 401 problem+json', async () => {
  const g = await start();
  const none = await g.call(USAGE);
  assert.equal(none.status, 401);
  assert.equal(none.headers['content-type'], 'application/problem+json');
  assert.equal(none.json().rule, 'key-missing');
  assert.match(none.headers['www-authenticate'] ?? '', /^Bearer/);
  const unknown = await g.call(USAGE, { key: 'sk_live_not_a_key_sluice_knows_0000000000' });
  assert.equal(unknown.status, 401);
  assert.equal(unknown.json().rule, 'key-unknown');
  assert.equal(await suite.hits(USAGE), 0);
});

test('the usage page counts in the per-IP window: past the block it is refused 429', async () => {
  const g = await start(`${POLICY}ip: { warn: 2/min, block: 3/min }\n`);
  const { key } = g.addKey('acme');
  for (let i = 0; i < 3; i++) assert.equal((await g.call(USAGE, { key })).status, 200);
  const refused = await g.call(USAGE, { key });
  assert.equal(refused.status, 429);
  assert.equal(refused.json().rule, 'ip-block');
});

test('a shadowed plan says so on its usage page', async () => {
  const g = await start(`${POLICY}mode: shadow\n`);
  const { key } = g.addKey('acme');
  assert.equal((await g.call(USAGE, { key })).json().mode, 'shadow');
});
