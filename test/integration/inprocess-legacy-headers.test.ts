/**
 * `server.legacyRateLimitHeaders: true` (issue 14, item 6): X-RateLimit-Limit,
 * -Remaining and -Reset beside the IETF RateLimit headers, with the same values (the
 * limit nearest to refusing: least remaining), on success and on 429, pinned exactly on
 * the manual clock; off by default. docs/answers.md shows the same values.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../helpers/gateway-process.ts';
import { inProcessSuite } from '../helpers/in-process-gateway.ts';

const suite = inProcessSuite();
const OK = '/_test/status/200';
const LEGACY = 'server:\n  legacyRateLimitHeaders: true\n';
const SIX_PER_MIN =
  'plans:\n  standard: { base: 6/min, perUnit: 0/min, min: 6/min, max: 6/min, burst: 2, maxDelay: 0s }\n';

function pick(headers: Record<string, string>) {
  const out: Record<string, string | undefined> = {};
  for (const name of [
    'ratelimit-policy',
    'ratelimit',
    'x-ratelimit-limit',
    'x-ratelimit-remaining',
    'x-ratelimit-reset',
  ]) {
    out[name] = headers[name];
  }
  return out;
}

test('on success and on 429: the binding limit, as the IETF headers say it', async () => {
  const g = await suite.start(LEGACY + SIX_PER_MIN);
  const { key } = g.addKey('acme');
  assert.deepEqual(pick((await g.call(OK, { key })).headers), {
    'ratelimit-policy': '"ip";q=200;w=60, "account";q=6;w=60',
    ratelimit: '"ip";r=199;t=60, "account";r=1;t=10',
    'x-ratelimit-limit': '6',
    'x-ratelimit-remaining': '1',
    'x-ratelimit-reset': '10',
  });
  assert.equal((await g.call(OK, { key })).status, 200);
  const refused = await g.call(OK, { key });
  assert.equal(refused.status, 429);
  assert.deepEqual(pick(refused.headers), {
    'ratelimit-policy': '"ip";q=200;w=60, "account";q=6;w=60',
    ratelimit: '"ip";r=197;t=60, "account";r=0;t=20',
    'x-ratelimit-limit': '6',
    'x-ratelimit-remaining': '0',
    'x-ratelimit-reset': '20',
  });
});

test('without a key, the per-IP limit; the per-IP 429 too', async () => {
  const g = await suite.start(`${LEGACY}ip:\n  warn: 1/min\n  block: 2/min\n`);
  assert.deepEqual(pick((await g.call(OK)).headers), {
    'ratelimit-policy': '"ip";q=2;w=60',
    ratelimit: '"ip";r=1;t=60',
    'x-ratelimit-limit': '2',
    'x-ratelimit-remaining': '1',
    'x-ratelimit-reset': '60',
  });
  await g.call(OK);
  const refused = await g.call(OK);
  assert.equal(refused.status, 429);
  assert.equal(refused.headers['x-ratelimit-remaining'], '0');
  assert.equal(refused.headers['x-ratelimit-reset'], '60');
});

test('off by default: only the IETF headers', async () => {
  const g = await suite.start(SIX_PER_MIN);
  const { key } = g.addKey('acme');
  const headers = (await g.call(OK, { key })).headers;
  assert.equal(headers.ratelimit, '"ip";r=199;t=60, "account";r=1;t=10');
  assert.equal(headers['x-ratelimit-limit'], undefined);
  assert.equal(headers['x-ratelimit-remaining'], undefined);
  assert.equal(headers['x-ratelimit-reset'], undefined);
});

test('docs/answers.md shows the headers with the values of the first request above', () => {
  const answers = readFileSync(join(ROOT, 'docs', 'answers.md'), 'utf8');
  for (const line of [
    'RateLimit: "ip";r=199;t=60, "account";r=1;t=10',
    'X-RateLimit-Limit: 6',
    'X-RateLimit-Remaining: 1',
    'X-RateLimit-Reset: 10',
  ]) {
    assert.ok(answers.includes(line), `answers.md shows ${line}`);
  }
});
