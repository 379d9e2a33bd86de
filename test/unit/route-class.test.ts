/**
 * The route-class decisions of the pure core (core/routes/route-class.ts), on a manual
 * clock: non-public routes refuse API keys, batch routes keep to the off-hours windows
 * and get their multiplier inside, a bulk export past its allowance says when the next
 * one is allowed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manualClock } from '../../src/core/clock.ts';
import { defaultPolicy } from '../../src/core/policy/built-in-policy.ts';
import type { Policy, RoutePolicy } from '../../src/core/policy/types.ts';
import {
  bulkExportRefusal,
  incrementalFilter,
  ledgerUnavailable,
  routeAdmission,
} from '../../src/core/routes/route-class.ts';
import { compileRoutes } from '../../src/core/routes/route-matcher.ts';
import { perMinute, testPolicy } from './helpers/policy-fixture.ts';

const WED_10AM_NEW_YORK = Date.UTC(2026, 11, 2, 15, 0); // Wednesday, outside the windows
const SAT_00AM_NEW_YORK = Date.UTC(2026, 11, 5, 5, 0); // the weekend window opens
const DAY = 86_400_000;

function route(over: Partial<RoutePolicy>): RoutePolicy {
  return {
    name: 'r',
    methods: [],
    path: '/r',
    query: [],
    cost: 1,
    class: 'public',
    dataset: 'r',
    rate: undefined,
    ...over,
  };
}

const ROUTES = [
  route({ name: 'reports', path: '/reports/*', class: 'non-public' }),
  route({ name: 'reindex', path: '/reindex', class: 'batch', cost: 3, rate: perMinute(10) }),
  route({ name: 'exports', path: '/exports/:dataset', class: 'bulk', dataset: ':dataset' }),
];

function setup(confineBatch: boolean) {
  const base = testPolicy();
  const policy: Policy = {
    ...base,
    routes: ROUTES,
    offHours: { ...base.offHours, confineBatch },
  };
  const match = compileRoutes(policy.routes, { caseSensitive: false });
  return { policy, match, clock: manualClock(WED_10AM_NEW_YORK) };
}

const KEY = { hasKey: true, hasSession: () => false };
const SESSION = { hasKey: false, hasSession: () => true };

test('a path no route matches is public: cost 1, no route rate', () => {
  const { policy, match, clock } = setup(false);
  const m = match('GET', '/anything', '');
  assert.deepEqual(routeAdmission(m, KEY, policy, clock.now(), '/anything'), {
    cost: 1,
    route: undefined,
  });
});

test('a non-public route refuses an API key with 403, and lets an interactive session pass', () => {
  const { policy, match, clock } = setup(false);
  const m = match('GET', '/reports/7', '');
  const refused = routeAdmission(m, KEY, policy, clock.now(), '/reports/7');
  assert.ok('refusal' in refused);
  assert.equal(refused.refusal.rule, 'non-public');
  assert.equal(refused.refusal.status, 403);
  assert.equal(refused.refusal.retryAfterMs, 0);
  assert.deepEqual(refused.refusal.counters, { route: 'reports', path: '/reports/7' });
  // A session without a key passes; a caller with neither is refused too.
  assert.ok(!('refusal' in routeAdmission(m, SESSION, policy, clock.now(), '/reports/7')));
  const nobody = { hasKey: false, hasSession: () => false };
  assert.ok('refusal' in routeAdmission(m, nobody, policy, clock.now(), '/reports/7'));
});

test('the session cookie is read only for a non-public route', () => {
  const { policy, match, clock } = setup(false);
  let asked = 0;
  const who = {
    hasKey: false,
    hasSession: () => {
      asked++;
      return false;
    },
  };
  routeAdmission(match('GET', '/reindex', ''), who, policy, clock.now(), '/reindex');
  routeAdmission(match('GET', '/exports/x', ''), who, policy, clock.now(), '/exports/x');
  assert.equal(asked, 0);
});

test('a confined batch route is refused until the next window opens, then runs at 4x its rate', () => {
  const { policy, match, clock } = setup(true);
  const m = match('POST', '/reindex', '');
  const outside = routeAdmission(m, KEY, policy, clock.now(), '/reindex');
  assert.ok('refusal' in outside);
  assert.equal(outside.refusal.rule, 'batch-window');
  assert.equal(outside.refusal.status, 429);
  assert.equal(outside.refusal.retryAfterMs, SAT_00AM_NEW_YORK - WED_10AM_NEW_YORK);
  assert.deepEqual(outside.refusal.counters, {
    route: 'reindex',
    windows: 'Sat 00:00 – Sun 20:00 (America/New_York)',
    nextWindow: new Date(SAT_00AM_NEW_YORK).toISOString(),
  });

  clock.set(SAT_00AM_NEW_YORK);
  const inside = routeAdmission(m, KEY, policy, clock.now(), '/reindex');
  assert.deepEqual(inside, {
    cost: 3,
    route: {
      name: 'reindex',
      rate: { limit: 40, periodMs: 60_000 },
      batch: true,
      incremental: undefined,
    },
  });
});

test('a confined batch route with no windows at all is refused, and told no window will open', () => {
  const { policy: base, match, clock } = setup(true);
  const twoWindows = [
    ...base.offHours.windows,
    { fromDay: 3, fromMinute: 22 * 60, toDay: 3, toMinute: 23 * 60 },
  ];
  const described = routeAdmission(
    match('POST', '/reindex', ''),
    KEY,
    { ...base, offHours: { ...base.offHours, windows: twoWindows } },
    clock.now(),
    '/reindex',
  );
  assert.ok('refusal' in described);
  assert.equal(
    (described.refusal.counters as { windows?: string }).windows,
    'Sat 00:00 – Sun 20:00; Wed 22:00 – Wed 23:00 (America/New_York)',
  );
  const policy = { ...base, offHours: { ...base.offHours, windows: [] } };
  const a = routeAdmission(match('POST', '/reindex', ''), KEY, policy, clock.now(), '/reindex');
  assert.ok('refusal' in a);
  assert.equal(a.refusal.retryAfterMs, 0);
  assert.deepEqual(a.refusal.counters, {
    route: 'reindex',
    windows: ' (America/New_York)',
    nextWindow: 'none',
  });
});

test('an unconfined batch route runs outside the windows at its own rate', () => {
  const { policy, match, clock } = setup(false);
  const m = match('POST', '/reindex', '');
  assert.deepEqual(routeAdmission(m, KEY, policy, clock.now(), '/reindex'), {
    cost: 3,
    route: { name: 'reindex', rate: perMinute(10), batch: true, incremental: undefined },
  });
});

test('a bulk export past its allowance says when the next one is allowed', () => {
  const { policy, clock } = setup(false);
  const now = clock.now();
  assert.equal(
    bulkExportRefusal(policy, 'companies', now, {
      allowed: true,
      used: 0,
      nextAllowedAt: undefined,
    }),
    undefined,
  );
  const r = bulkExportRefusal(policy, 'companies', now, {
    allowed: false,
    used: 1,
    nextAllowedAt: now + 3 * DAY,
  });
  assert.ok(r !== undefined);
  assert.equal(r.rule, 'bulk-export');
  assert.equal(r.status, 429);
  assert.equal(r.retryAfterMs, 3 * DAY);
  assert.equal(r.note, `next export of companies allowed ${new Date(now + 3 * DAY).toISOString()}`);
  assert.deepEqual(r.counters, {
    dataset: 'companies',
    allowed: 1,
    periodMs: 30 * DAY,
    exports: 1,
    nextAllowedAt: new Date(now + 3 * DAY).toISOString(),
  });
  // A policy with an incremental-sync filter names it in the refusal's facts.
  const listing = route({
    name: 'list',
    path: '/list',
    query: [{ param: 'since', present: false }],
  });
  const withFilter = bulkExportRefusal(
    { ...policy, routes: [...policy.routes, listing] },
    'companies',
    now,
    { allowed: false, used: 1, nextAllowedAt: now + 3 * DAY },
  );
  assert.ok(withFilter !== undefined);
  assert.equal((withFilter.counters as { incremental?: string }).incremental, 'since');
  const away = ledgerUnavailable('companies');
  assert.equal(away.retryAfterMs, 60_000);
  assert.deepEqual(away.counters, { dataset: 'companies', ledger: 'unavailable' });
});

test("the policy's incremental filter is the parameter whose absence makes a full listing", () => {
  assert.equal(incrementalFilter(defaultPolicy()), 'modifiedAfter');
  assert.equal(incrementalFilter(testPolicy()), undefined);
});

// Cases found by mutation testing (TESTING.md): each fails on a mutant Stryker left alive.

test('a route that is not batch ignores the batch confinement and says it is not batch', () => {
  const base = testPolicy();
  const routes = [route({ name: 'search', path: '/search', class: 'public', rate: perMinute(6) })];
  const policy: Policy = {
    ...base,
    routes,
    offHours: { ...base.offHours, confineBatch: true, batchMultiplier: 4 },
  };
  const match = compileRoutes(policy.routes, { caseSensitive: false });
  for (const now of [WED_10AM_NEW_YORK, SAT_00AM_NEW_YORK + 60_000]) {
    assert.deepEqual(routeAdmission(match('GET', '/search', ''), KEY, policy, now, '/search'), {
      cost: 1,
      route: { name: 'search', rate: perMinute(6), batch: false, incremental: undefined },
    });
  }
});

test('a matched route without a rate of its own has no route limit', () => {
  const { policy, match, clock } = setup(false);
  const m = match('GET', '/exports/companies', '');
  assert.ok(m !== undefined);
  assert.deepEqual(routeAdmission(m, KEY, policy, clock.now(), '/exports/companies'), {
    cost: 1,
    route: undefined,
  });
});

test('a bulk export refused with no date of its own says retry at once, with no limit headers', () => {
  const { policy, clock } = setup(false);
  const r = bulkExportRefusal(policy, 'companies', clock.now(), {
    allowed: false,
    used: 1,
    nextAllowedAt: undefined,
  });
  assert.ok(r !== undefined);
  assert.equal(r.retryAfterMs, 0);
  assert.deepEqual(r.limits, []);
  assert.equal(r.warning, undefined);
});
