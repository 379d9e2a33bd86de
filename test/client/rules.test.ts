/** The client's rules on given headers, times and routes (no I/O, no sleeping): pacing, header reading, route matching. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Pacer } from '../../packages/client/src/pacer.ts';
import { readLimits, retryAfterMs } from '../../packages/client/src/rate-limit-headers.ts';

const limits = (r: number, extra: Record<string, string> = {}) =>
  new Headers({
    'ratelimit-policy': '"ip";q=200;w=60, "account";q=60;w=60',
    ratelimit: `"ip";r=150;t=20, "account";r=${r};t=5`,
    ...extra,
  });

test('the RateLimit headers are read per policy; Retry-After as seconds or a date', () => {
  assert.deepEqual(readLimits(limits(3)), [
    { policy: 'ip', q: 200, w: 60, r: 150, t: 20 },
    { policy: 'account', q: 60, w: 60, r: 3, t: 5 },
  ]);
  assert.deepEqual(readLimits(new Headers({ 'ratelimit-policy': 'garbage;q=x' })), []);
  assert.equal(retryAfterMs(new Headers({ 'retry-after': '17' }), 0), 17_000);
  assert.equal(
    retryAfterMs(new Headers({ 'retry-after': 'Thu, 01 Jan 1970 00:01:00 GMT' }), 30_000),
    30_000,
  );
  assert.equal(retryAfterMs(new Headers({}), 0), undefined);
});

test('requests go at once while the burst lasts, then one emission interval apart', () => {
  const pacer = new Pacer(1);
  pacer.observe(limits(10), 200);
  pacer.started(1, 0);
  assert.equal(pacer.waitMs(0), 0, 'plenty left: no wait');
  pacer.observe(limits(1), 200);
  pacer.started(1, 0);
  // 60 per 60 s: one a second, with 2 % slack.
  assert.equal(pacer.waitMs(0), 1020);
  pacer.started(5, 1020);
  assert.equal(pacer.waitMs(1020), 5100, 'a request costing 5 takes five intervals');
});

test('a 429 pauses everything, halves the rate and the width; answers not slowed recover it gradually', () => {
  const pacer = new Pacer(4);
  pacer.width = 4;
  pacer.observe(limits(10), 200);
  pacer.refused(60_000, 1_000);
  assert.equal(pacer.waitMs(1_000), 60_000);
  assert.equal(pacer.width, 1);
  assert.equal(pacer.factor, 0.5);
  pacer.started(1, 61_000);
  // Below full rate every request is paced, burst or not: 1 s / 0.5.
  assert.equal(pacer.waitMs(61_000), 2_040);
  const factors: number[] = [];
  for (let i = 0; i < 30; i++) {
    pacer.observe(limits(10), 200);
    factors.push(pacer.factor);
  }
  assert.ok(factors[0] < 0.6, `gradual, not at once: ${factors[0]}`);
  assert.ok(factors.every((f, i) => i === 0 || f >= factors[i - 1]));
  assert.equal(factors.at(-1), 1);
});

test('slowed answers (Sluice-Delay-Ms) halve the width; it grows back by one per 20 calm answers, never past the maximum', () => {
  const pacer = new Pacer(4);
  pacer.width = 4;
  pacer.observe(limits(10, { 'sluice-delay-ms': '250' }), 200);
  assert.equal(pacer.width, 2);
  pacer.observe(limits(10, { 'sluice-delay-ms': '250' }), 200);
  assert.equal(pacer.width, 1);
  for (let i = 0; i < 19; i++) pacer.observe(limits(10), 200);
  assert.equal(pacer.width, 1);
  pacer.observe(limits(10), 200);
  assert.equal(pacer.width, 2);
  for (let i = 0; i < 200; i++) pacer.observe(limits(10), 200);
  assert.equal(pacer.width, 4);
});

test('routes are matched as the gateway matches them: first match, case ignored unless published otherwise, named choices, query conditions', async () => {
  const { matchRoute } = await import('../../packages/client/src/published-policy.ts');
  const route = (name: string, path: string, extra: object = {}) => ({
    name,
    path,
    class: 'public' as const,
    cost: 1,
    rate: null,
    ...extra,
  });
  const policy = {
    version: 1,
    generatedAt: '2026-01-05T12:00:00.000Z',
    ip: { concurrency: 32 },
    defaultPlan: 'standard',
    plans: {},
    bulk: { allow: { limit: 1, periodSec: 2_592_000, text: '1/30d' }, period: '30d' },
    offHours: { timeZone: 'UTC', windows: [], inWindow: false, current: null, next: null },
    routes: [
      route('reports', '/api/reports/**', { class: 'non-public' }),
      route('export', '/api/exports/:dataset', { class: 'bulk', dataset: ':dataset' }),
      route('search', '/api/search', { methods: ['GET'], cost: 5 }),
      route('full', '/api/:c(companies|jobs)', {
        methods: ['GET'],
        query: { modifiedAfter: 'absent' },
        class: 'batch',
      }),
    ],
  };
  const name = (method: string, url: string, p: object = policy) =>
    matchRoute(p as never, method, url)?.route.name;
  assert.equal(name('POST', '/api/reports'), 'reports');
  assert.equal(name('GET', '/API/Reports/rpt-1'), 'reports');
  assert.equal(name('GET', '/api/%72eports/x'), 'reports', 'escapes decoded');
  assert.equal(
    matchRoute(policy as never, 'GET', '/api/exports/devices')?.params.dataset,
    'devices',
  );
  assert.equal(name('HEAD', '/api/search?q=x'), 'search', 'a GET route covers HEAD');
  assert.equal(name('POST', '/api/search'), undefined);
  assert.equal(name('GET', '/api/jobs?limit=5'), 'full');
  assert.equal(name('GET', '/api/jobs?modifiedAfter=2026-01-01T00:00:00Z'), undefined);
  assert.equal(name('GET', '/api/devices'), undefined, 'not one of the named choices');
  assert.equal(
    name('GET', '/API/Reports/x', { ...policy, paths: { caseSensitive: true } }),
    undefined,
  );
});
