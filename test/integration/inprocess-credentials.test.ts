/**
 * The credential stage's own answers through the real gateway (in-process, manual clock,
 * real demo upstream): the 400 `credential-conflict` and the
 * 503 `identity-unavailable` byte for byte, with their headers and metrics; a credential
 * found in two sources is stripped from both.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type DemoUpstream, startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import { bearer, call, closedPortUrl } from '../helpers/http.ts';
import { type InProcessGateway, startInProcessGateway } from '../helpers/in-process-gateway.ts';

const TOKEN = 'admin-token-for-credential-stage-0123';

let upstream: DemoUpstream;
before(async () => {
  upstream = await startDemoUpstream({});
});
after(() => upstream?.close());

/** A gateway whose error log lines fail the test: an answered request must end there. */
async function gateway(t: { after(fn: () => unknown): void }, policy: string) {
  const errors: string[] = [];
  const g = await startInProcessGateway({
    upstream: upstream.url,
    policy,
    adminToken: TOKEN,
    logger: createLogger({
      level: 'error',
      destination: { write: (l: string) => void errors.push(l) },
    }),
  });
  t.after(async () => {
    await g.close();
    assert.deepEqual(errors, []);
  });
  return g;
}

/** `sluice_refused_total` by rule. */
async function refusals(g: InProcessGateway): Promise<Record<string, number>> {
  const text = (await call(`${g.adminUrl}/metrics`, { headers: bearer(TOKEN) })).body;
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^sluice_refused_total\{rule="([^"]+)"\} (\d+)$/gm)) {
    out[m[1]] = Number(m[2]);
  }
  return out;
}

const upstreamTotal = async () =>
  (await call(`${upstream.url}/_test/hits`)).json<{ total: number }>().total;

const ALL_SOURCES =
  'identity:\n  credentials: [ {authorization: Bearer}, {header: X-API-Key}, {query: api_key} ]\n';

test('two different credentials: 400 credential-conflict naming both places, exactly, never forwarded', async (t) => {
  const g = await gateway(t, ALL_SOURCES);
  const before = await upstreamTotal();
  const cases: [Record<string, string>, string, string][] = [
    [
      { authorization: 'Bearer key-one', 'x-api-key': 'key-two' },
      '',
      'Authorization: Bearer and the x-api-key header',
    ],
    [{ 'x-api-key': 'key-one' }, '?api_key=key-two', 'the x-api-key header and ?api_key'],
  ];
  for (const [headers, query, places] of cases) {
    const answer = await g.call(`/api/whoami${query}`, { headers });
    assert.equal(answer.status, 400);
    assert.equal(answer.headers['content-type'], 'application/problem+json');
    assert.equal(answer.headers['cache-control'], 'no-store');
    assert.equal(answer.headers['retry-after'], undefined);
    assert.equal(
      answer.body,
      JSON.stringify({
        type: 'tag:sluice,2026:problem:credential-conflict',
        title: 'Bad Request',
        status: 400,
        detail: `The request carries two different API keys (in ${places}): send one key, in one place.`,
        rule: 'credential-conflict',
      }),
    );
  }
  assert.equal(await upstreamTotal(), before, 'never forwarded');
  assert.deepEqual(await refusals(g), { 'credential-conflict': 2 }, 'answered once, by this rule');
});

test('the delegate down with onFailure refuse: 503 identity-unavailable exactly, Retry-After 5', async (t) => {
  const down = await closedPortUrl();
  const g = await gateway(
    t,
    `identity:\n  delegate: { url: "${down}/identity", onFailure: refuse }\n`,
  );
  const before = await upstreamTotal();
  const answer = await g.call('/api/whoami', { headers: { 'x-api-key': 'partner-key-acme' } });
  assert.equal(answer.status, 503);
  assert.equal(answer.headers['content-type'], 'application/problem+json');
  assert.equal(answer.headers['cache-control'], 'no-store');
  assert.equal(answer.headers['retry-after'], '5');
  assert.equal(
    answer.body,
    JSON.stringify({
      type: 'tag:sluice,2026:problem:identity-unavailable',
      title: 'Service Unavailable',
      status: 503,
      detail:
        'The API key of this request cannot be checked right now: the service that knows it does not answer. Retry in a few seconds.',
      rule: 'identity-unavailable',
    }),
  );
  // A request sent after it reaches the upstream; the refused one, sent first, never does.
  assert.equal((await g.call('/_test/status/200')).status, 200);
  assert.equal(await upstreamTotal(), before + 1, 'the refused request was never forwarded');
  assert.deepEqual(await refusals(g), { 'identity-unavailable': 1 }, 'answered once, by this rule');
});

test('a sluice key sent in two places at once is stripped from both', async (t) => {
  const g = await gateway(t, ALL_SOURCES);
  const { key } = g.addKey('acme');
  // First in one place (the strip of that one source is made once and kept), then in two.
  const once = await g.call('/api/whoami?x=1', { headers: { authorization: `Bearer ${key}` } });
  assert.equal(once.json<{ headers: Record<string, string> }>().headers.authorization, undefined);
  const answer = await g.call(`/api/whoami?api_key=${key}&x=1`, {
    headers: { authorization: `Bearer ${key}` },
  });
  assert.equal(answer.status, 200, answer.body);
  const seen = answer.json<{ account: string; headers: Record<string, string>; url: string }>();
  assert.equal(seen.account, 'acme');
  assert.equal(seen.headers.authorization, undefined);
  assert.equal(seen.url, '/api/whoami?x=1');
});
