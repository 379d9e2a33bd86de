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

test('the path is the canonical, decoded one: parameters are taken as given, never decoded again', () => {
  const match = compileRoutes([route({ path: '/e/:dataset' })], { caseSensitive: true });
  assert.deepEqual(match('GET', '/e/a b', '')?.params, { dataset: 'a b' });
  assert.deepEqual(match('GET', '/e/%41', '')?.params, { dataset: '%41' });
  const literal = compileRoutes([route({ path: '/caf%C3%A9' })]);
  assert.ok(literal('GET', '/café', ''), 'pattern literals are decoded like paths');
});

test('paths match ignoring case unless caseSensitive; the dataset counts in lower case', () => {
  const routes = defaultPolicy().routes;
  const loose = compileRoutes(routes, { caseSensitive: false });
  assert.equal(loose('POST', '/API/Reports', '')?.route.name, 'reports');
  assert.equal(loose('POST', '/api/reportſ', '')?.route.name, 'reports', 'ſ is S upper-cased');
  assert.equal(datasetOf(loose('GET', '/api/exports/DEVICES', '')!), 'devices');
  assert.equal(compileRoutes(routes)('GET', '/API/SEARCH', '')?.route.name, 'search');
  const strict = compileRoutes(routes, { caseSensitive: true });
  assert.equal(strict('POST', '/API/Reports', ''), undefined);
  assert.equal(datasetOf(strict('GET', '/api/exports/Devices', '')!), 'Devices');
});

test('a GET route covers HEAD: upstreams answer HEAD with the GET handler', () => {
  const match = compileRoutes(defaultPolicy().routes);
  assert.equal(match('HEAD', '/api/search', 'q=a')?.route.name, 'search');
  assert.equal(match('POST', '/api/search', 'q=a'), undefined);
});

test('query conditions lean towards the rule: absent unless the exact name has a value', () => {
  const match = compileRoutes(defaultPolicy().routes);
  const name = (query: string) => match('GET', '/api/devices', query)?.route.name;
  assert.equal(name('modifiedAfter=2026-01-01'), undefined);
  assert.equal(name('%6DodifiedAfter=2026-01-01'), undefined, 'names are decoded, as upstreams do');
  assert.equal(name('modifiedAfter='), 'full-listing', 'an empty value reads as no value');
  assert.equal(name('modifiedAfter'), 'full-listing');
  assert.equal(name('MODIFIEDAFTER=2026-01-01'), 'full-listing', 'Fastify: another name');
  assert.equal(name('modifiedAfter[]=2026-01-01'), 'full-listing', 'Fastify: another name');
  assert.equal(name('a=1;modifiedAfter=2026-01-01'), 'full-listing', "Fastify splits at '&' only");
  const present = compileRoutes([
    route({ name: 'p', query: [{ param: 'expand', present: true }] }),
  ]);
  for (const query of [
    'expand',
    'expand=',
    'EXPAND=all',
    'expand[]=a',
    'a=1;expand=x',
    'ex%70and=1',
  ]) {
    assert.equal(present('GET', '/', query)?.route.name, 'p', query);
  }
  assert.equal(present('GET', '/', 'expanded=1'), undefined);
});

test('a named segment with listed values matches only those values', () => {
  const match = compileRoutes([
    route({ name: 'list', path: '/api/:collection(companies|devices)', methods: ['GET'] }),
  ]);
  assert.deepEqual(match('GET', '/api/devices', '')?.params, { collection: 'devices' });
  assert.deepEqual(match('GET', '/api/Companies', '')?.params, { collection: 'companies' });
  assert.equal(match('GET', '/api/whoami', ''), undefined, 'a value not listed is not the route');
  assert.equal(match('GET', '/api/devices/7', ''), undefined, 'one segment only');
});

test("the built-in full-listing route covers the demo's list endpoints, not any one-segment GET", () => {
  const match = compileRoutes(defaultPolicy().routes);
  for (const c of ['companies', 'devices', 'jobs', 'logs']) {
    assert.equal(match('GET', `/api/${c}`, '')?.route.name, 'full-listing', c);
  }
  assert.equal(match('GET', '/api/whoami', ''), undefined);
  assert.equal(match('GET', '/api/companies', 'modifiedAfter=2026-01-01T00:00:00Z'), undefined);
});

test('listed values are decoded and folded like the path: written in any case, with escapes', () => {
  const match = compileRoutes([route({ name: 'v', path: '/api/:kind(Daily|week%20ly)' })]);
  assert.deepEqual(match('GET', '/api/daily', '')?.params, { kind: 'daily' });
  assert.deepEqual(match('GET', '/api/DAILY', '')?.params, { kind: 'daily' });
  assert.deepEqual(match('GET', '/api/week ly', '')?.params, { kind: 'week ly' });
});

test('an unnamed one-segment wildcard captures nothing, and needs its segment even before **', () => {
  const match = compileRoutes([route({ name: 'w', path: '/a/*/**' })]);
  assert.deepEqual(match('GET', '/a/b', '')?.params, {});
  assert.deepEqual(match('GET', '/a/b/c/d', '')?.params, {});
  assert.equal(match('GET', '/a', ''), undefined);
  assert.equal(match('GET', '/a/', ''), undefined);
});

test('a query condition on a camel-case name, or one with a space written as +', () => {
  const match = compileRoutes([
    route({ name: 'camel', path: '/c', query: [{ param: 'pageSize', present: true }] }),
    route({ name: 'spaced', path: '/s', query: [{ param: 'page size', present: true }] }),
    route({ name: 'absent', path: '/n', query: [{ param: 'page size', present: false }] }),
  ]);
  assert.equal(match('GET', '/c', 'pageSize=10')?.route.name, 'camel');
  assert.equal(match('GET', '/c', 'pagesize=10')?.route.name, 'camel');
  assert.equal(match('GET', '/s', 'page+size=10')?.route.name, 'spaced');
  assert.equal(match('GET', '/s', 'page%20size=10')?.route.name, 'spaced');
  assert.equal(match('GET', '/n', 'page+size=10'), undefined, 'the exact name has a value');
  assert.equal(match('GET', '/n', 'page=10')?.route.name, 'absent');
});

test('a dataset parameter the match did not capture counts under its own written name', () => {
  const r = route({ name: 'x', path: '/x/**', class: 'bulk', dataset: ':dataset' });
  assert.equal(datasetOf({ route: r, params: {} }), ':dataset');
  assert.equal(datasetOf({ route: r, params: { dataset: 'devices' } }), 'devices');
  assert.equal(datasetOf({ route: { ...r, dataset: 'all' }, params: { dataset: 'x' } }), 'all');
});

test('a malformed escape is compared as written, in a pattern and in a query name', () => {
  const match = compileRoutes([
    route({ name: 'raw', path: '/a%zz' }),
    route({ name: 'q', path: '/q', query: [{ param: '%zz', present: true }] }),
  ]);
  assert.equal(match('GET', '/a%zz', '')?.route.name, 'raw');
  assert.equal(match('GET', '/q', '%zz=1')?.route.name, 'q');
});

test('every query condition of a route must hold, and an indexed name counts as the name', () => {
  const match = compileRoutes([
    route({
      name: 'both',
      path: '/b',
      query: [
        { param: 'expand', present: true },
        { param: 'since', present: false },
      ],
    }),
  ]);
  assert.equal(match('GET', '/b', 'expand[0]=a')?.route.name, 'both');
  assert.equal(match('GET', '/b', 'expand=a&since=2026-01-01'), undefined);
  assert.equal(match('GET', '/b', 'since=2026-01-01'), undefined);
});

test('a dataset written as a name is never read from the path parameters', () => {
  const r = route({ name: 'x', path: '/x/:ll', class: 'bulk', dataset: 'all' });
  assert.equal(datasetOf({ route: r, params: { ll: 'devices' } }), 'all');
});
