/**
 * Policy settings that had no end-to-end test: each test sets a value other than the
 * default and asserts an answer that only that value gives, so a gateway that ignored
 * the setting would fail it. The gateway is built in-process on a manual clock, in front
 * of the real demo upstream.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { verifyWebhook } from '../../src/notify/webhook-signature.ts';
import { type InProcessGateway, inProcessSuite, T0, until } from '../helpers/in-process-gateway.ts';

const suite = inProcessSuite();

const start = suite.start;

const OK = '/_test/status/200';

/** The `account` quota of the answer's RateLimit-Policy. */
function accountQuota(headers: Record<string, string>): number | undefined {
  const m = /"account";q=(\d+);w=(\d+)/.exec(headers['ratelimit-policy'] ?? '');
  return m === null ? undefined : Number(m[1]);
}

/** The `account` remaining units of the answer's RateLimit. */
function accountRemaining(headers: Record<string, string>): number | undefined {
  const m = /"account";r=(\d+)/.exec(headers.ratelimit ?? '');
  return m === null ? undefined : Number(m[1]);
}

test('server.trustedProxies: X-Forwarded-For counts only from a listed proxy', async () => {
  const policy = 'ip:\n  warn: 1/min\n  block: 2/min\n';
  const xff = (n: number) => ({ headers: { 'x-forwarded-for': `198.51.100.${n}` } });
  let g = await start(policy);
  assert.equal((await g.call(OK, xff(1))).status, 200);
  assert.equal((await g.call(OK, xff(2))).status, 200);
  assert.equal((await g.call(OK, xff(3))).status, 429, 'untrusted: all are 127.0.0.1');
  await g.close();
  g = await start(`${policy}server:\n  trustedProxies: [127.0.0.0/8]\n`);
  for (let n = 1; n <= 3; n++) assert.equal((await g.call(OK, xff(n))).status, 200);
  assert.equal((await g.call(OK, xff(1))).status, 200);
  assert.equal((await g.call(OK, xff(1))).status, 429, 'each forwarded address has its own');
});

test('server.caseSensitiveRoutes: true lets a path differing in case miss the route', async () => {
  let g = await start('');
  let { key } = g.addKey('acme');
  const upper = await g.call('/API/Reports', { key, method: 'POST' });
  assert.equal(upper.status, 403, 'by default case is ignored: still the non-public route');
  assert.equal(upper.json().rule, 'non-public');
  await g.close();
  g = await start('server:\n  caseSensitiveRoutes: true\n');
  ({ key } = g.addKey('acme'));
  const passed = await g.call('/API/Reports', { key, method: 'POST' });
  assert.equal(passed.status, 404, 'forwarded: the upstream has no /API/Reports');
});

test('server.identityHeaders: the upstream gets the account and key id under the names set, and clients cannot set them', async () => {
  const named = await startDemoUpstream({ identityHeaders: { account: 'x-acct', key: 'x-kid' } });
  let g: InProcessGateway | undefined;
  try {
    g = await start('server:\n  identityHeaders: { account: X-Acct, key: X-Kid }\n', {
      upstream: named.url,
    });
    const { key, id } = g.addKey('acme');
    const who = await g.call('/api/whoami', { key, headers: { 'x-acct': 'someone-else' } });
    assert.deepEqual(
      { account: who.json().account, keyId: who.json().keyId },
      { account: 'acme', keyId: id },
    );
    const keyless = await g.call('/api/whoami', { headers: { 'x-acct': 'someone-else' } });
    assert.equal(keyless.json().account, null, 'a client copy never reaches the upstream');
  } finally {
    await g?.close();
    await named.close();
  }
});

test('plans: base, perUnit, min and max set the account quota by size; defaultPlan takes unknown plans', async () => {
  const g = await start(`plans:
  standard: { base: 10/min, perUnit: 3/min, min: 25/min, max: 40/min }
  gold: { base: 100/min, perUnit: 0/min, min: 100/min, max: 100/min }
defaultPlan: gold
`);
  const quota = async (account: string, size: number, plan?: string) =>
    accountQuota((await g.call(OK, { key: g.addKey(account, { size, plan }).key })).headers);
  assert.equal(await quota('small', 0, 'standard'), 25, 'min: 10 + 0 is below 25');
  assert.equal(await quota('mid', 7, 'standard'), 31, 'base + perUnit × size: 10 + 21');
  assert.equal(await quota('big', 100, 'standard'), 40, 'max: 310 is above 40');
  assert.equal(await quota('odd', 7, 'no-such-plan'), 100, 'an unknown plan is the defaultPlan');
});

test('plans.burst and routes cost: a request spends its cost from the burst', async () => {
  const g = await start(`plans:
  standard: { burst: 12 }
routes:
  - { name: pricey, path: /_test/status/200, cost: 5 }
`);
  const { key } = g.addKey('acme');
  assert.equal(accountRemaining((await g.call(OK, { key })).headers), 7, '12 − 5');
  assert.equal(accountRemaining((await g.call('/_test/status/201', { key })).headers), 6);
});

test('bulk.allow and a route dataset: N exports per period, each dataset its own', async () => {
  const g = await start('bulk:\n  allow: 2/1d\n');
  const { key } = g.addKey('acme');
  for (let i = 0; i < 2; i++) {
    assert.equal((await g.call('/api/exports/companies', { key })).status, 200);
    g.clock.advance(3_600_000);
  }
  const third = await g.call('/api/exports/companies', { key });
  assert.equal(third.status, 429);
  assert.equal(third.json().rule, 'bulk-export');
  assert.equal(third.headers['retry-after'], String(22 * 3600), 'the first export ages out');
  assert.equal((await g.call('/api/exports/devices', { key })).status, 200, 'another dataset');
  g.clock.advance(22 * 3_600_000);
  assert.equal((await g.call('/api/exports/companies', { key })).status, 200);
});

test('offHours: timeZone, windows and batchMultiplier as set, to the millisecond', async () => {
  // 22:00–02:00 in Tokyo (UTC+9, no daylight saving) is 13:00–17:00 UTC.
  const opens = Date.UTC(2026, 0, 5, 13, 0, 0);
  const closes = Date.UTC(2026, 0, 5, 17, 0, 0);
  const g = await start(
    `offHours:
  timeZone: Asia/Tokyo
  windows: [{ daily: "22:00-02:00" }]
  batchMultiplier: 2.5
`,
    { startAt: opens - 1 },
  );
  const { key } = g.addKey('acme');
  const quota = async () =>
    /"route-full-listing";q=(\d+)/.exec(
      (await g.call('/api/companies?limit=1', { key })).headers['ratelimit-policy'] ?? '',
    )?.[1];
  assert.equal(await quota(), '30');
  g.clock.advance(1);
  assert.equal(await quota(), '75', '30/min × 2.5 from 22:00 Tokyo');
  g.clock.set(closes - 1);
  assert.equal(await quota(), '75');
  g.clock.advance(1);
  assert.equal(await quota(), '30', 'off at 02:00 Tokyo');
});

/** One request a minute and no slowing: every further request is 429. */
const ONE_A_MINUTE =
  'plans:\n  standard: { base: 1/min, perUnit: 0/min, min: 1/min, max: 1/min, burst: 1, maxDelay: 0s }\n';

test('safeguards window: 429s further apart than the window never add up to the threshold', async () => {
  const g = await start(`${ONE_A_MINUTE}safeguards:
  ignoring429: { threshold: 3, window: 10s, durations: [1h] }
`);
  const { key, id } = g.addKey('acme');
  assert.equal((await g.call(OK, { key })).status, 200);
  // 429s at 0, 6 and 12 s: never three within 10 s.
  for (let i = 0; i < 3; i++) {
    assert.equal((await g.call(OK, { key })).status, 429);
    g.clock.advance(6_000);
  }
  assert.equal(g.records.getKey(id)?.status, 'active');
  // At 18 s: 12 and 18 are within 10 s, with one more at 19 s, three are.
  assert.equal((await g.call(OK, { key })).status, 429);
  g.clock.advance(1_000);
  assert.equal((await g.call(OK, { key })).status, 429);
  await until(() => g.records.getKey(id)?.status === 'suspended', 'suspended at the third');
});

test('safeguards enabled: false turns a rule off', async () => {
  const g = await start(`${ONE_A_MINUTE}safeguards:
  ignoring429: { enabled: false, threshold: 2 }
`);
  const { key, id } = g.addKey('acme');
  assert.equal((await g.call(OK, { key })).status, 200);
  for (let i = 0; i < 5; i++) assert.equal((await g.call(OK, { key })).status, 429);
  // The enforcer acts within the request's own turn (memory store): by the next answer
  // a suspension would show, as it does with the rule on (the test above).
  assert.equal((await g.call(OK, { key })).status, 429, 'still answered 429, not suspended');
  assert.equal(g.records.getKey(id)?.status, 'active');
});

test('interactive.cookie: a session under the cookie name set may use a non-public route', async () => {
  const g = await start('interactive:\n  cookie: sid\n');
  const post = (cookie: string) => g.call('/api/reports', { method: 'POST', headers: { cookie } });
  const wrong = await post('session=abc');
  assert.equal(wrong.status, 403, 'the default cookie name is no session here');
  assert.equal(wrong.json().rule, 'non-public');
  assert.equal((await post('sid=abc')).status, 202);
});

test('webhooks: events filter what each hook gets; secretEnv signs with the variable', async () => {
  const received: { path: string; event: string; valid: boolean }[] = [];
  const receiver: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      received.push({
        path: req.url ?? '',
        event: String(req.headers['sluice-event']),
        valid: verifyWebhook(
          'from-the-env',
          req.headers['sluice-signature'],
          body,
          Math.floor(T0 / 1000),
        ),
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  try {
    const g = await start(
      `ip:
  warn: 1/min
webhooks:
  - { url: "${hook}/warnings", secretEnv: HOOK_SECRET, events: [warning] }
  - { url: "${hook}/suspensions", secretEnv: HOOK_SECRET, events: [suspension, revocation] }
`,
      { env: { HOOK_SECRET: 'from-the-env' } },
    );
    assert.equal((await g.call(OK)).status, 200);
    assert.equal((await g.call(OK)).headers['sluice-warning'], '"ip";count=2;limit=1');
    await until(() => received.length > 0, 'the warning webhook arrives');
    // close() flushes every delivery: the other hook would have had its by then.
    await g.close();
    assert.deepEqual(received, [{ path: '/warnings', event: 'warning', valid: true }]);
  } finally {
    await new Promise((r) => receiver.close(r));
  }
});

test('safeguards malformedStorm: a key whose requests keep being malformed is suspended', async () => {
  const g = await start(`safeguards:
  malformedStorm: { threshold: 3, window: 1m, durations: [2h] }
`);
  const { key, id } = g.addKey('acme');
  // An upstream 404 and the gateway's own 400 for a path with no canonical form both count.
  assert.equal((await g.call('/_test/status/404', { key })).status, 404);
  assert.equal((await g.call('/api/a%2Fb', { key })).status, 400);
  assert.equal(g.records.getKey(id)?.status, 'active');
  assert.equal((await g.call('/_test/status/422', { key })).status, 422);
  await until(() => g.records.getKey(id)?.status === 'suspended', 'suspended at the third');
  assert.equal(g.records.getKey(id)?.suspendedUntil, T0 + 2 * 3_600_000);
  const refused = await g.call(OK, { key });
  assert.equal(refused.json().rule, 'key-suspended');
  assert.equal(refused.headers['retry-after'], String(2 * 3_600));
});
