import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultPolicy } from '../../src/core/policy/built-in-policy.ts';
import type { RoutePolicy } from '../../src/core/policy/types.ts';
import { compileRoutes, datasetOf } from '../../src/core/routes/route-matcher.ts';

function route(over: Partial<RoutePolicy>): RoutePolicy {
  return {
    name: 'r',
    methods: [],
    path: '/',
    query: [],
    cost: 1,
    class: 'public',
    dataset: 'r',
    rate: undefined,
    ...over,
  };
}

test('the default policy classes the demo routes', () => {
  const match = compileRoutes(defaultPolicy().routes);
  assert.equal(
    match('POST', '/api/reports', '')?.route.class,
    'non-public',
    'the bare report path is non-public too',
  );
  assert.equal(match('GET', '/api/reports/42/pdf', '')?.route.class, 'non-public');
  const exp = match('GET', '/api/exports/devices', '');
  assert.equal(exp?.route.class, 'bulk');
  assert.equal(datasetOf(exp!), 'devices');
  assert.equal(match('GET', '/api/search', 'q=x')?.route.cost, 5);
  assert.equal(match('GET', '/api/jobs', '')?.route.name, 'full-listing');
  assert.equal(
    match('GET', '/api/jobs', 'modifiedAfter=2026-01-01T00:00:00Z')?.route,
    undefined,
    'incremental sync is the cheap path',
  );
  assert.equal(match('GET', '/api/jobs/17', ''), undefined);
});

test('first match wins; methods and query conditions filter', () => {
  const match = compileRoutes([
    route({ name: 'a', methods: ['POST'], path: '/x/*' }),
    route({ name: 'b', path: '/x/:id', query: [{ param: 'full', present: true }] }),
    route({ name: 'c', path: '/x/**' }),
  ]);
  assert.equal(match('POST', '/x/1', '')?.route.name, 'a');
  assert.equal(match('GET', '/x/1', 'full')?.route.name, 'b');
  assert.deepEqual(match('GET', '/x/1', 'full=1')?.params, { id: '1' });
  assert.equal(match('GET', '/x/1', 'other=1')?.route.name, 'c');
  assert.equal(match('GET', '/x/1/2/3', '')?.route.name, 'c');
  assert.equal(match('GET', '/y', ''), undefined);
});

test('path parameters are decoded; a malformed escape is kept as written', () => {
  const match = compileRoutes([route({ path: '/e/:dataset' })]);
  assert.deepEqual(match('GET', '/e/a%20b', '')?.params, { dataset: 'a b' });
  assert.deepEqual(match('GET', '/e/%zz', '')?.params, { dataset: '%zz' });
});
