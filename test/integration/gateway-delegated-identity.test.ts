/**
 * Delegated identity through a real gateway (in-process, manual clock) in front of the
 * real demo upstream, with a small real identity endpoint: a key only the endpoint
 * knows gets its account, size and plan (cached: one call for many requests, asked
 * again after the TTL), a flood of a made-up key asks once, sluice's own keys never
 * ask, and the endpoint down is answered as `onFailure` says (503 identity-unavailable,
 * or anonymous), with a metric.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type DemoUpstream, startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { call, closedPortUrl } from '../helpers/http.ts';
import { type IdentityEndpoint, startIdentityEndpoint } from '../helpers/identity-endpoint.ts';
import { type InProcessGateway, startInProcessGateway } from '../helpers/in-process-gateway.ts';

const TOKEN = 'admin-token-for-delegate-tests-012345';
let upstream: DemoUpstream;
let endpoint: IdentityEndpoint;
before(async () => {
  upstream = await startDemoUpstream({});
  endpoint = await startIdentityEndpoint({
    'partner-key-acme': { account: 'acme', size: 30, plan: 'enterprise' },
  });
});
after(async () => {
  await endpoint?.close();
  await upstream?.close();
});

async function gateway(t: { after(fn: () => unknown): void }, delegate: string) {
  const gw = await startInProcessGateway({
    upstream: upstream.url,
    policy: `identity:\n  delegate: { ${delegate} }\n`,
    adminToken: TOKEN,
  });
  t.after(() => gw.close());
  return gw;
}

const whoami = async (gw: InProcessGateway, key: string) => {
  const answer = await gw.call('/api/whoami', { headers: { 'x-api-key': key } });
  return {
    answer,
    seen:
      answer.status === 200
        ? answer.json<{ account: string | null; headers: Record<string, string> }>()
        : undefined,
  };
};

async function metric(gw: InProcessGateway, result: string): Promise<number> {
  const text = (
    await call(`${gw.adminUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
  ).body;
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`sluice_delegate_lookups_total{result="${result}"}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

test('a key only the delegate knows gets its account and plan; cached for the TTL, then asked again', async (t) => {
  const gw = await gateway(t, `url: "${endpoint.url}", ttl: 5m`);
  const before = endpoint.calls;
  const first = await whoami(gw, 'partner-key-acme');
  assert.equal(first.answer.status, 200, first.answer.body);
  assert.equal(first.seen?.account, 'acme');
  // Delegated keys are the upstream's own: forwarded (stripCredential.delegated: false).
  assert.equal(first.seen?.headers['x-api-key'], 'partner-key-acme');
  // Its plan and size apply: enterprise, 120/min + 4/min × 30 = 240/min (standard: 120).
  assert.match(first.answer.headers['ratelimit-policy'], /"account";q=240;w=60/);
  for (let i = 0; i < 10; i++)
    assert.equal((await whoami(gw, 'partner-key-acme')).seen?.account, 'acme');
  assert.equal(endpoint.calls - before, 1, 'cached hits make no call');
  assert.equal(await metric(gw, 'hit'), 10);
  gw.clock.advance(5 * 60_000);
  await whoami(gw, 'partner-key-acme');
  assert.equal(endpoint.calls - before, 2, 'asked again after the TTL');

  // sluice's own keys are known without asking.
  const { key } = gw.addKey('globex');
  assert.equal((await whoami(gw, key)).seen?.account, 'globex');
  assert.equal(endpoint.calls - before, 2);
});

test('a flood of a made-up key asks the delegate once; the request is keyless', async (t) => {
  const gw = await gateway(t, `url: "${endpoint.url}", negativeTtl: 1m`);
  const before = endpoint.calls;
  for (let i = 0; i < 30; i++) {
    const { answer, seen } = await whoami(gw, 'made-up-key');
    assert.equal(answer.status, 200);
    assert.equal(seen?.account, null);
  }
  assert.equal(endpoint.calls - before, 1, 'the negative cache answers the rest');
  assert.equal(await metric(gw, 'unknown'), 1);
});

test('the delegate down: onFailure refuse answers 503 identity-unavailable, anonymous serves keyless', async (t) => {
  const down = await closedPortUrl();
  const refuse = await gateway(t, `url: "${down}/identity", onFailure: refuse`);
  const refused = await whoami(refuse, 'partner-key-acme');
  assert.equal(refused.answer.status, 503);
  assert.equal(refused.answer.headers['content-type'], 'application/problem+json');
  assert.equal(refused.answer.headers['retry-after'], '5');
  assert.equal(refused.answer.json().type, 'tag:sluice,2026:problem:identity-unavailable');
  assert.equal(await metric(refuse, 'failed'), 1);
  // A request without a key does not need the delegate.
  assert.equal((await refuse.call('/api/whoami')).status, 200);

  const anonymous = await gateway(t, `url: "${down}/identity", onFailure: anonymous`);
  const served = await whoami(anonymous, 'partner-key-acme');
  assert.equal(served.answer.status, 200);
  assert.equal(served.seen?.account, null, 'served as a request without a key (per-IP limits)');
});

test('a delegate that does not answer in time is a failure after the timeout, not a hung request', async (t) => {
  const gw = await gateway(t, `url: "${endpoint.url}", timeout: 200ms`);
  endpoint.mode = 'hold';
  try {
    const started = performance.now();
    const { answer } = await whoami(gw, 'partner-key-acme');
    const waited = performance.now() - started;
    assert.equal(answer.status, 503);
    assert.ok(waited >= 190 && waited < 3_000, `answered after ${waited} ms (timeout 200 ms)`);
  } finally {
    endpoint.mode = 'answer';
    endpoint.release();
  }
});
