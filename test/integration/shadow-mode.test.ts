/**
 * Shadow mode, in-process on the manual clock in front of the real demo upstream: a
 * request a limit would delay or refuse reaches the upstream at once (the clock never
 * advanced), carries `Sluice-Shadow` saying what would have happened, and leaves an
 * incident marked dry run. The policy's `mode`, a plan's and a route's: the most
 * specific wins.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shadowOutcome } from '../../src/core/incident-facts.ts';
import type { Incident } from '../../src/core/records.ts';
import { openSqliteRecordStore } from '../../src/store/sqlite-record-store.ts';
import { sluice, tempDir } from '../helpers/gateway-process.ts';
import { call } from '../helpers/http.ts';
import {
  type InProcessGateway,
  inProcessSuite,
  startInProcessGateway,
  T0,
  until,
} from '../helpers/in-process-gateway.ts';

const suite = inProcessSuite();

async function start(policy: string): Promise<InProcessGateway> {
  await call(`${suite.upstream().url}/_test/hits/reset`, { method: 'POST' });
  return suite.start(policy);
}

/** A path no route matches (public, cost 1), answered 200 by the upstream. */
const OK = '/_test/status/200';

/** Two at once, then one every 10 s; no slowing: past the burst is 429 at once. */
const NO_DELAY = '{ base: 6/min, perUnit: 0/min, min: 6/min, max: 6/min, burst: 2, maxDelay: 0s }';
/** Two at once, then one every 10 s, slowed up to 30 s. */
const SLOWED = '{ base: 6/min, perUnit: 0/min, min: 6/min, max: 6/min, burst: 2, maxDelay: 30s }';

const REFERENCE = /^refuse; rule=account-rate; reference=(RL-[0-9A-Z]{4}-[0-9A-Z]{4})$/;

/** The stored incident of `reference`, once the recorder has flushed it. */
async function incident(g: InProcessGateway, reference: string): Promise<Incident> {
  let found: Incident | undefined;
  await until(() => {
    found = g.records.getIncident(reference);
    return found !== undefined;
  }, `incident ${reference} is saved`);
  return found!;
}

test('policy in shadow: the request over the limit reaches the upstream, says what would have happened', async () => {
  const g = await start(`mode: shadow\nplans:\n  standard: ${NO_DELAY}\n`);
  const { key } = g.addKey('acme');
  assert.equal((await g.call(OK, { key })).status, 200);
  assert.equal((await g.call(OK, { key })).status, 200);
  const over = await g.call(OK, { key });
  assert.equal(over.status, 200, 'not refused');
  assert.equal(await suite.hits(OK), 3, 'all three reached the upstream');
  const said = REFERENCE.exec(over.headers['sluice-shadow'] ?? '');
  assert.ok(said, `Sluice-Shadow: ${over.headers['sluice-shadow']}`);
  assert.equal(over.headers.ratelimit, '"ip";r=197;t=60, "account";r=0;t=20');
  const stored = await incident(g, said[1]!);
  assert.equal(stored.rule, 'account-rate');
  assert.equal(stored.subject.accountId, 'acme');
  assert.equal(stored.counters.dryRun, 'yes');
  assert.equal(shadowOutcome(stored.counters), 'refuse');
  // A request under the limit says nothing.
  g.clock.advance(60_000);
  assert.equal((await g.call(OK, { key })).headers['sluice-shadow'], undefined);
});

test('a would-be delay is not held: no timer on the clock, the delay in the header', async () => {
  const g = await start(`mode: shadow\nplans:\n  standard: ${SLOWED}\n`);
  const { key } = g.addKey('acme');
  await g.call(OK, { key });
  await g.call(OK, { key });
  const third = await g.call(OK, { key });
  assert.equal(third.status, 200);
  assert.equal(g.clock.pending(), 0, 'nothing armed on the clock');
  assert.equal(third.headers['sluice-delay-ms'], undefined);
  const m = /^delay=10000; rule=account-rate; reference=(RL-[0-9A-Z-]+)$/.exec(
    third.headers['sluice-shadow'] ?? '',
  );
  assert.ok(m, `Sluice-Shadow: ${third.headers['sluice-shadow']}`);
  const stored = await incident(g, m[1]!);
  assert.equal(shadowOutcome(stored.counters), 'delay');
  assert.equal(stored.counters.delayMs, 10_000);
  assert.equal(await suite.hits(OK), 3);
});

test('a plan in shadow: its accounts pass, another plan is still refused', async () => {
  const g = await start(
    `plans:\n  standard: ${NO_DELAY}\n  trial:\n    mode: shadow\n    base: 6/min\n    perUnit: 0/min\n    min: 6/min\n    max: 6/min\n    burst: 2\n    maxDelay: 0s\n`,
  );
  const trial = g.addKey('newcomer', { plan: 'trial' });
  const standard = g.addKey('acme');
  for (const key of [trial.key, standard.key]) {
    await g.call(OK, { key });
    await g.call(OK, { key });
  }
  const shadowed = await g.call(OK, { key: trial.key });
  assert.equal(shadowed.status, 200);
  assert.match(shadowed.headers['sluice-shadow'] ?? '', REFERENCE);
  const enforced = await g.call(OK, { key: standard.key });
  assert.equal(enforced.status, 429);
  assert.equal(enforced.headers['sluice-shadow'], undefined);
  assert.equal(await suite.hits(OK), 5);
});

test('a route in shadow, and the most specific mode wins: a route enforced in a shadowed policy', async () => {
  const g = await start(`mode: shadow
routes:
  - { name: trial-route, path: /_test/status/201, rate: 1/min }
  - { name: strict, path: /_test/status/202, rate: 1/min, mode: enforce }
`);
  const { key } = g.addKey('acme');
  assert.equal((await g.call('/_test/status/201', { key })).status, 201);
  const shadowed = await g.call('/_test/status/201', { key });
  assert.equal(shadowed.status, 201);
  assert.match(shadowed.headers['sluice-shadow'] ?? '', /^refuse; rule=route-rate; reference=RL-/);
  assert.equal((await g.call('/_test/status/202', { key })).status, 202);
  const refused = await g.call('/_test/status/202', { key });
  assert.equal(refused.status, 429);
  assert.equal(refused.json().rule, 'route-rate');
  assert.equal(await suite.hits('/_test/status/202'), 1);
});

test('a route in shadow in an enforced policy: only that route passes', async () => {
  const g = await start(`routes:
  - { name: reports, path: /api/reports/**, class: non-public, mode: shadow }
  - { name: admin, path: /_test/status/403, class: non-public }
`);
  const { key } = g.addKey('acme');
  const shadowed = await g.call('/api/reports/2026', { key });
  assert.notEqual(shadowed.status, 403, 'forwarded, whatever the upstream answers');
  assert.match(shadowed.headers['sluice-shadow'] ?? '', /^refuse; rule=non-public; reference=RL-/);
  const enforced = await g.call('/_test/status/403', { key });
  assert.equal(enforced.json().rule, 'non-public');
  assert.equal(await suite.hits('/_test/status/403'), 0);
});

test('safeguards in shadow only record: the would-be revocation is a dry run, the key works', async () => {
  const g = await start(`mode: shadow
safeguards:
  nonPublicAutomation: { threshold: 2, window: 1d, action: revoke }
`);
  const { key, id } = g.addKey('acme');
  for (let i = 0; i < 3; i++) await g.call('/api/reports/1', { key });
  let action: Incident | undefined;
  await until(() => {
    action = g.records.listIncidents().find((i) => i.rule === 'safeguard-non-public');
    return action !== undefined;
  }, 'the safeguard action is recorded');
  assert.equal(action!.counters.dryRun, 'yes');
  assert.equal(action!.counters.action, 'revoke');
  assert.equal(g.records.getKey(id)?.status, 'active');
  assert.equal((await g.call(OK, { key })).status, 200);
});

/** The shadow policy of the report tests: acme is refused past its burst, beta slowed. */
const REPORT_POLICY = `mode: shadow
plans:
  standard: ${NO_DELAY}
  slow: ${SLOWED}
`;

/** acme: two requests past its burst (one run of would-be refusals); beta: one would-be delay. */
async function shadowTraffic(g: InProcessGateway): Promise<string> {
  const acme = g.addKey('acme');
  const beta = g.addKey('beta', { plan: 'slow' });
  for (let i = 0; i < 3; i++) await g.call(OK, { key: beta.key });
  await g.call(OK, { key: acme.key });
  await g.call(OK, { key: acme.key });
  const over = await g.call(OK, { key: acme.key });
  g.clock.advance(1_000);
  await g.call(OK, { key: acme.key });
  const reference = REFERENCE.exec(over.headers['sluice-shadow'] ?? '')![1]!;
  await until(() => g.records.getIncident(reference)?.count === 2, 'the run of two is saved');
  return reference;
}

const EXPECTED_ACCOUNTS = [
  {
    account: 'acme',
    slowed: 0,
    refused: 2,
    suspended: 0,
    revoked: 0,
    blocked: 0,
    topRules: [{ rule: 'account-rate', would: 'refuse', count: 2 }],
  },
  {
    account: 'beta',
    slowed: 1,
    refused: 0,
    suspended: 0,
    revoked: 0,
    blocked: 0,
    topRules: [{ rule: 'account-rate', would: 'delay', count: 1 }],
  },
];

test('the admin API reports, per account, what would have been slowed and refused', async () => {
  const g = await startInProcessGateway({
    upstream: suite.upstream().url,
    policy: REPORT_POLICY,
    start: T0,
    adminToken: 'admin-secret',
  });
  try {
    await shadowTraffic(g);
    const auth = { authorization: 'Bearer admin-secret' };
    const report = await call(`${g.adminUrl}/admin/reports/shadow?since=1h`, { headers: auth });
    assert.equal(report.status, 200);
    assert.deepEqual(report.json(), {
      since: new Date(g.clock.now() - 3_600_000).toISOString(),
      until: new Date(g.clock.now()).toISOString(),
      accounts: EXPECTED_ACCOUNTS,
    });
    // Two hours on, a one-hour report has nothing in it.
    g.clock.advance(2 * 3_600_000);
    const later = await call(`${g.adminUrl}/admin/reports/shadow?since=1h`, { headers: auth });
    assert.deepEqual(later.json().accounts, []);
    const bad = await call(`${g.adminUrl}/admin/reports/shadow?since=soon`, { headers: auth });
    assert.equal(bad.status, 400);
    assert.match(bad.json<{ detail: string }>().detail, /"soon" is not a duration/);
  } finally {
    await g.close();
  }
});

test('`sluice report shadow` and `sluice incident REF` read what shadow mode recorded', async () => {
  const data = tempDir();
  // The CLI reads "the last 24 hours" by the real clock: the gateway's starts there.
  const g = await startInProcessGateway({
    upstream: suite.upstream().url,
    policy: REPORT_POLICY,
    recordStore: openSqliteRecordStore(data),
    start: Date.now(),
  });
  let reference: string;
  try {
    reference = await shadowTraffic(g);
  } finally {
    await g.close();
  }
  const shown = await sluice(['incident', reference, '--data', data]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /Shadow mode: would have been refused/);
  assert.match(shown.stdout, /nothing was refused; the requests were forwarded/);
  assert.match(shown.stdout, /account acme/);

  const json = await sluice(['report', 'shadow', '--since', '24h', '--json', '--data', data]);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout).accounts, EXPECTED_ACCOUNTS);
  const text = await sluice(['report', 'shadow', '--data', data]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^acme +0 +2 +0 +0 +0 +account-rate \(refuse 2\)$/m);
  assert.match(text.stdout, /^beta +1 +0 +0 +0 +0 +account-rate \(delay 1\)$/m);
  const bad = await sluice(['report', 'shadow', '--since', 'soon', '--data', data]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--since: "soon" is not a duration.*\[SLUICE_ERR_CLI_USAGE\]/);
});
