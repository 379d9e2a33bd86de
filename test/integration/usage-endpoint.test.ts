/**
 * `GET /.well-known/sluice/usage`, in-process on the manual clock in front of the real
 * demo upstream: the caller's own rate, remaining budget, reset and current delay to
 * the millisecond, its incidents with explanations, its next bulk export, the off-hours
 * windows; it spends nothing, needs the caller's own key, and shows nothing of another
 * account.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../src/gateway/logger.ts';
import { MemoryRecordStore } from '../../src/store/memory-record-store.ts';
import { call } from '../helpers/http.ts';
import {
  type InProcessGateway,
  inProcessSuite,
  type SyncRecordStore,
  startInProcessGateway,
  T0,
  until,
} from '../helpers/in-process-gateway.ts';

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

test('the usage page: any query string, HEAD as GET, any other method 405 with Allow', async () => {
  const g = await start();
  const { key } = g.addKey('acme');
  const page = (await g.call(USAGE, { key })).json();
  const queried = await g.call(`${USAGE}?fields=all`, { key });
  assert.equal(queried.status, 200);
  assert.deepEqual(queried.json(), page);
  const head = await g.call(USAGE, { key, method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-type'], 'application/json');
  assert.equal(head.headers['cache-control'], 'no-store');
  assert.equal(head.body, '');
  for (const method of ['POST', 'DELETE']) {
    const refused = await g.call(USAGE, { key, method });
    assert.equal(refused.status, 405, method);
    assert.equal(refused.headers['content-type'], 'application/problem+json');
    assert.equal(refused.headers.allow, 'GET, HEAD');
    assert.equal(refused.headers['cache-control'], 'no-store');
    assert.deepEqual(refused.json(), {
      type: 'tag:sluice,2026:problem:method-not-allowed',
      title: 'Method Not Allowed',
      status: 405,
      detail: `${USAGE} answers GET only.`,
    });
  }
  assert.equal(await suite.hits(USAGE), 0, 'never forwarded');
});

/** A rated batch route, an unrated one, and a rated route of another class. */
const ROUTES = `${POLICY}routes:
  - { name: nightly, method: GET, path: /api/jobs, class: batch, rate: 30/min }
  - { name: archive, method: GET, path: /api/logs, class: batch }
  - { name: search, method: GET, path: /api/search, rate: 10/min }
`;

async function routesAt(startAt: number): Promise<unknown> {
  const g = await suite.start(ROUTES, { startAt });
  const { key } = g.addKey('acme');
  const answer = await g.call(USAGE, { key });
  assert.equal(answer.status, 200);
  return answer.json<{ routes: unknown }>().routes;
}

/** The rated routes (not the unrated batch one), whole. */
const rated = (nightly: number) => [
  { route: 'nightly', limit: nightly, periodSec: 60, remaining: nightly, resetSec: 0 },
  { route: 'search', limit: 10, periodSec: 60, remaining: 10, resetSec: 0 },
];

test('the usage page outside the off-hours windows: every rated route as written, unrated ones left out', async () => {
  // Monday 07:00 in New York.
  assert.deepEqual(await routesAt(T0), rated(30));
});

test("the usage page inside an off-hours window: batch routes' rates times batchMultiplier, no other", async () => {
  // Saturday 07:00 in New York: inside the weekend window.
  assert.deepEqual(await routesAt(T0 + 5 * 86_400_000), rated(120));
});

type UsageRead = 'listIncidents' | 'listBulkExports';

/**
 * A real memory store whose usage reads answer as a store across the network may: `later`
 * (a promise settled on a later turn), or failing at once (`throw`) or later (`reject`).
 */
function storeAnswering(how: Partial<Record<UsageRead, 'later' | 'throw' | 'reject'>>) {
  return new Proxy(new MemoryRecordStore(), {
    get(target, name) {
      const value = Reflect.get(target, name, target);
      if (typeof value !== 'function') return value;
      const read = value.bind(target) as (...args: unknown[]) => unknown;
      const mode = how[name as UsageRead];
      if (mode === undefined) return read;
      return (...args: unknown[]) => {
        if (mode === 'throw') throw new Error(`${String(name)}: the store is gone`);
        if (mode === 'reject')
          return Promise.reject(new Error(`${String(name)}: the store is gone`));
        return new Promise((resolve) => setImmediate(() => resolve(read(...args))));
      };
    },
  }) as SyncRecordStore;
}

/** An in-process gateway on `recordStore`, its log lines in `lines`, closed after the test. */
async function withStore(
  t: { after(fn: () => Promise<void>): void },
  recordStore: SyncRecordStore,
): Promise<{ g: InProcessGateway; lines: Record<string, unknown>[] }> {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: 'info',
    destination: { write: (line: string) => lines.push(JSON.parse(line)) },
  });
  const g = await startInProcessGateway({
    upstream: suite.upstream().url,
    policy: POLICY,
    recordStore,
    logger,
  });
  t.after(() => g.close());
  return { g, lines };
}

const errors = (lines: Record<string, unknown>[]) => lines.filter((l) => Number(l.level) >= 50);

test('the usage page read from a store that answers at once logs no error', async (t) => {
  const { g, lines } = await withStore(t, new MemoryRecordStore());
  const { key } = g.addKey('acme');
  const answer = await g.call(USAGE, { key });
  assert.equal(answer.status, 200);
  assert.equal(answer.json().account, 'acme');
  assert.deepEqual(errors(lines), []);
});

for (const read of ['listIncidents', 'listBulkExports'] as const) {
  test(`the usage page read from a store whose ${read} answers later: the same page`, async (t) => {
    const { g, lines } = await withStore(t, storeAnswering({ [read]: 'later' }));
    const { key } = g.addKey('acme');
    const reference = await exportTwice(g, key, 'companies');
    const answer = await g.call(USAGE, { key });
    assert.equal(answer.status, 200);
    const body = answer.json<{
      rate: { remaining: number };
      incidents: { reference: string }[];
      bulkExports: unknown;
    }>();
    assert.deepEqual(
      body.incidents.map((i) => i.reference),
      [reference],
    );
    assert.deepEqual(body.bulkExports, [
      {
        dataset: 'companies',
        allowed: 1,
        periodSec: MONTH / 1000,
        used: 1,
        nextAllowedAt: new Date(T0 + MONTH).toISOString(),
      },
    ]);
    assert.equal(body.rate.remaining, 0);
    assert.deepEqual(errors(lines), []);
  });

  for (const how of ['throw', 'reject'] as const) {
    test(`the usage page when ${read} fails (${how}): 500 problem+json, logged, the gateway goes on`, async (t) => {
      const { g, lines } = await withStore(t, storeAnswering({ [read]: how }));
      const { key } = g.addKey('acme');
      const answer = await g.call(USAGE, { key, signal: AbortSignal.timeout(5_000) });
      assert.equal(answer.status, 500);
      assert.equal(answer.headers['content-type'], 'application/problem+json');
      assert.deepEqual(answer.json(), {
        type: 'tag:sluice,2026:problem:internal',
        title: 'Internal Server Error',
        status: 500,
        detail: 'sluice failed to handle this request.',
      });
      const logged = errors(lines);
      assert.equal(logged.length, 1);
      assert.equal(logged[0]!.msg, 'reading usage failed');
      assert.equal((logged[0]!.err as { message: string }).message, `${read}: the store is gone`);
      assert.equal((await g.call(OK, { key })).status, 200);
    });
  }
}
