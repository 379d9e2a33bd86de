/**
 * The forward stage through the real gateway (in-process, manual clock, real demo
 * upstream): what the upstream answered, counted by status class in the metrics (a
 * client gone mid-answer is no upstream failure), an unreachable upstream counted and
 * logged with the caller, and which answers the safeguards are told of (401/403 as auth
 * failures, malformed-request statuses as such, nothing else).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type DemoUpstream, startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import { bearer, call, closedPortUrl } from '../helpers/http.ts';
import {
  type InProcessGateway,
  startInProcessGateway,
  until,
} from '../helpers/in-process-gateway.ts';

const TOKEN = 'admin-token-for-forward-tests-0123456';

let upstream: DemoUpstream;
before(async () => {
  upstream = await startDemoUpstream({});
});
after(() => upstream?.close());

async function gateway(
  t: { after(fn: () => unknown): void },
  options: { policy?: string; upstream?: string } = {},
) {
  const lines: Record<string, unknown>[] = [];
  const g = await startInProcessGateway({
    upstream: options.upstream ?? upstream.url,
    policy: options.policy ?? '',
    adminToken: TOKEN,
    logger: createLogger({
      level: 'info',
      destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
    }),
  });
  t.after(() => g.close());
  return { g, lines };
}

/** Every sample of /metrics whose name starts with `prefix`, by its full name and labels. */
async function samples(g: InProcessGateway, prefix: string): Promise<Record<string, number>> {
  const text = (await call(`${g.adminUrl}/metrics`, { headers: bearer(TOKEN) })).body;
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const at = line.lastIndexOf(' ');
    out[line.slice(0, at)] = Number(line.slice(at + 1));
  }
  return out;
}

test("the upstream's answers are counted by status class, each forwarded request once, with its duration", async (t) => {
  const { g, lines } = await gateway(t);
  for (const status of [200, 201, 302, 404, 503, 204]) {
    assert.equal((await g.call(`/_test/status/${status}`)).status, status);
  }
  assert.deepEqual(await samples(g, 'sluice_upstream_responses_total'), {
    'sluice_upstream_responses_total{class="2xx"}': 3,
    'sluice_upstream_responses_total{class="3xx"}': 1,
    'sluice_upstream_responses_total{class="4xx"}': 1,
    'sluice_upstream_responses_total{class="5xx"}': 1,
  });
  assert.deepEqual(await samples(g, 'sluice_forwarded_total'), { sluice_forwarded_total: 6 });
  const duration = await samples(g, 'sluice_upstream_duration_seconds_');
  assert.equal(duration.sluice_upstream_duration_seconds_count, 6);
  const sum = duration.sluice_upstream_duration_seconds_sum;
  assert.ok(sum > 0 && sum < 6, `6 loopback answers took ${sum} s in all`);
  assert.deepEqual(
    lines.filter((l) => l.event === 'upstream-failure'),
    [],
    'an upstream error status is no upstream failure',
  );
});

test('an unreachable upstream: 502, counted as failed, logged with who was calling', async (t) => {
  const { g, lines } = await gateway(t, { upstream: await closedPortUrl() });
  const { key, id } = g.addKey('acme');
  const answer = await g.call('/api/things', { key });
  assert.equal(answer.status, 502);
  assert.equal(answer.json().type, 'tag:sluice,2026:problem:upstream-unavailable');
  assert.deepEqual(await samples(g, 'sluice_upstream_responses_total'), {
    'sluice_upstream_responses_total{class="failed"}': 1,
  });
  const failures = lines.filter((l) => l.event === 'upstream-failure');
  assert.equal(failures.length, 1);
  assert.equal(failures[0].level, 40, 'a warning');
  assert.equal(failures[0].msg, 'upstream failed');
  assert.equal(failures[0].error, 'upstream-unavailable');
  assert.equal(failures[0].accountId, 'acme');
  assert.equal(failures[0].keyId, id);
  assert.equal(failures[0].ip, '127.0.0.1');
});

test('a client gone before the answer is counted by its status, not as an upstream failure', async (t) => {
  const { g, lines } = await gateway(t);
  const client = new AbortController();
  const gone = g.call('/_test/slow?ms=60000', { signal: client.signal }).catch(() => 'aborted');
  await until(
    async () =>
      (await call(`${upstream.url}/_test/hits`)).json<{ paths: Record<string, number> }>().paths[
        '/_test/slow'
      ] === 1,
    'the request is upstream',
  );
  client.abort();
  assert.equal(await gone, 'aborted');
  let counted: Record<string, number> = {};
  await until(async () => {
    counted = await samples(g, 'sluice_upstream_responses_total');
    return Object.keys(counted).length > 0;
  }, 'the exchange is counted');
  assert.deepEqual(counted, { 'sluice_upstream_responses_total{class="2xx"}': 1 });
  assert.deepEqual(
    lines.filter((l) => l.event === 'upstream-failure'),
    [],
  );
});

test('401 and 403 answers are auth failures to the safeguards; other answers are not', async (t) => {
  const { g } = await gateway(t, {
    policy: `safeguards:
  afterAuthFailure: { threshold: 3, window: 1m, action: block-ip, durations: [1h] }
  malformedStorm: { threshold: 3, window: 1m, durations: [1h] }
`,
  });
  const { key, id } = g.addKey('acme');
  // Answers that are neither: counted towards no rule.
  for (const status of [200, 201, 500, 429, 302]) {
    assert.equal((await g.call(`/_test/status/${status}`, { key })).status, status);
  }
  // Two 401s and a 404: neither rule reaches 3 (a 401 is no malformed request, a 404
  // no auth failure).
  assert.equal((await g.call('/_test/status/401', { key })).status, 401);
  assert.equal((await g.call('/_test/status/404', { key })).status, 404);
  assert.equal((await g.call('/_test/status/401', { key })).status, 401);
  assert.equal((await g.call('/_test/status/200', { key })).status, 200);
  assert.equal(g.records.getKey(id)?.status, 'active');
  // A 403 is the third auth failure: the address is blocked.
  assert.equal((await g.call('/_test/status/403', { key })).status, 403);
  // Told when the answer is complete, before the next request is read: no wait.
  const refused = await g.call('/_test/status/200', { key });
  assert.equal(refused.status, 403);
  assert.equal(refused.json().rule, 'ip-blocked');
  assert.equal(g.records.getKey(id)?.status, 'active', 'no malformed storm');
});
