/**
 * Edges of compiling the off-hours windows and the routes that the fixture table of
 * policy-mistakes.test.ts does not reach: 24:00, a window with both shapes, windows of
 * the same time on different days, and what a dataset mistake says.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileDocument } from '../../src/core/policy/compile.ts';
import { formatPath } from '../../src/core/policy/problems.ts';

function compile(doc: Record<string, unknown>) {
  const { policy, problems } = compileDocument(doc, 'test.yaml');
  return { policy, problems: problems.map((p) => [formatPath(p.path), p.message]) };
}

test('24:00 is 00:00 of the next day, and Saturday 24:00 is Sunday 00:00', () => {
  const { policy, problems } = compile({
    offHours: { windows: [{ from: 'Sat 20:00', to: 'Sat 24:00' }] },
  });
  assert.deepEqual(problems, []);
  assert.deepEqual(policy?.offHours.windows, [
    { fromDay: 6, fromMinute: 1200, toDay: 0, toMinute: 0 },
  ]);
});

test('a daily window that crosses midnight ends the next day', () => {
  const { policy } = compile({ offHours: { windows: [{ daily: '22:00-02:00' }] } });
  assert.deepEqual(policy?.offHours.windows[6], {
    fromDay: 6,
    fromMinute: 1320,
    toDay: 0,
    toMinute: 120,
  });
});

test('a window with daily and only one of from and to is refused: one shape or the other', () => {
  for (const window of [
    { daily: '01:00-03:00', from: 'Sat 00:00' },
    { daily: '01:00-03:00', to: 'Sun 20:00' },
  ]) {
    assert.deepEqual(compile({ offHours: { windows: [window] } }).problems, [
      ['offHours.windows[0]', 'a window has from and to, or daily, not both'],
    ]);
  }
});

test('from and to at the same time of day on different days is a whole day, not empty', () => {
  const { policy, problems } = compile({
    offHours: {
      windows: [
        { from: 'Mon 10:00', to: 'Tue 10:00' },
        { from: 'Wed 10:00', to: 'Wed 11:00' },
      ],
    },
  });
  assert.deepEqual(problems, []);
  assert.equal(policy?.offHours.windows.length, 2);
});

test('a dataset on a route whose class is misspelt is not blamed on the dataset', () => {
  const { problems } = compile({
    routes: [{ name: 'x', path: '/x/:dataset', class: 'bulkk', dataset: ':dataset' }],
  });
  assert.equal(problems.length, 1);
  assert.equal(problems[0][0], 'routes[0].class');
});

test("a dataset that is not a segment lists the path's named segments, or says it has none", () => {
  const none = compile({
    routes: [{ name: 'x', path: '/api/exports', class: 'bulk', dataset: ':set' }],
  });
  assert.deepEqual(none.problems, [
    [
      'routes[0].dataset',
      '":set" is not a segment of the path /api/exports (its named segments: none)',
    ],
  ]);
  const two = compile({
    routes: [{ name: 'x', path: '/api/:kind/:dataset', class: 'bulk', dataset: ':set' }],
  });
  assert.deepEqual(two.problems, [
    [
      'routes[0].dataset',
      '":set" is not a segment of the path /api/:kind/:dataset (its named segments: :kind, :dataset)',
    ],
  ]);
});

test("a route's own mode is kept; a route without one has none", () => {
  const { policy, problems } = compile({
    routes: [
      { name: 'a', path: '/a', mode: 'shadow' },
      { name: 'b', path: '/b' },
    ],
  });
  assert.deepEqual(problems, []);
  assert.equal(policy?.routes[0].mode, 'shadow');
  assert.equal('mode' in (policy?.routes[1] ?? {}), false);
});

test('a Redis store gets its defaults, and keeps what is written', () => {
  const plain = compile({ store: { redis: 'redis://127.0.0.1:6379' } });
  assert.deepEqual(plain.problems, []);
  assert.deepEqual(plain.policy?.store, {
    kind: 'redis',
    redis: { url: 'redis://127.0.0.1:6379' },
    prefix: 'sluice:',
    timeoutMs: 50,
    onFailure: 'open',
    leaseMs: 10_000,
  });
  const written = compile({
    store: {
      redis: 'redis://127.0.0.1:6379',
      prefix: 'api1:',
      timeout: '200ms',
      onFailure: 'closed',
      lease: '1s',
    },
  });
  assert.deepEqual(written.problems, []);
  assert.deepEqual(
    { ...written.policy?.store, redis: undefined },
    {
      kind: 'redis',
      redis: undefined,
      prefix: 'api1:',
      timeoutMs: 200,
      onFailure: 'closed',
      leaseMs: 1_000,
    },
  );
  const short = compile({ store: { redis: 'redis://127.0.0.1:6379', lease: '999ms' } });
  assert.equal(short.problems.length, 1);
  assert.equal(short.problems[0][0], 'store.lease');
  assert.match(short.problems[0][1], /^lease \(999ms\) must be at least 1s/);
});

test('a limit that must be lower than another is refused when equal, blamed on the value written', () => {
  const keyless = compile({ server: { upstreamConnections: 64 } });
  assert.deepEqual(
    keyless.problems.map((p) => p[0]),
    ['server.upstreamConnections'],
  );
  assert.match(
    keyless.problems[0][1],
    /^unauthenticatedConcurrency \(64\) must be lower than upstreamConnections \(64\)/,
  );
  const written = compile({ server: { unauthenticatedConcurrency: 256 } });
  assert.deepEqual(
    written.problems.map((p) => p[0]),
    ['server.unauthenticatedConcurrency'],
  );

  const ip = compile({ ip: { block: '100/min' } });
  assert.deepEqual(ip.problems, [
    [
      'ip.block',
      'warn (100/min) must be lower than block (100/min): the warning comes before the block',
    ],
  ]);
});

test("a plan's min equal to its max is allowed; more is blamed on the one written", () => {
  const equal = compile({ plans: { p: { base: '60/min', min: '100/min', max: '100/min' } } });
  assert.deepEqual(equal.problems, []);
  const over = compile({ plans: { standard: { max: '10/min' } } });
  assert.deepEqual(
    over.problems.map((p) => p[0]),
    ['plans.standard.max'],
  );
});

test("a plan's own mode is kept; a plan without one has none", () => {
  const { policy, problems } = compile({ plans: { trial: { base: '10/min', mode: 'shadow' } } });
  assert.deepEqual(problems, []);
  assert.equal(policy?.plans.trial.mode, 'shadow');
  assert.equal('mode' in (policy?.plans.standard ?? {}), false);
});

test('safeguard durations: not a list is said once; an empty list is blamed where written', () => {
  const notList = compile({ safeguards: { ignoring429: { durations: '1h' } } });
  assert.equal(notList.problems.length, 1);
  assert.equal(notList.problems[0][0], 'safeguards.ignoring429.durations');
  assert.doesNotMatch(notList.problems[0][1], /needs durations/);
  const empty = compile({ safeguards: { ignoring429: { durations: [] } } });
  assert.deepEqual(empty.problems, [
    [
      'safeguards.ignoring429.durations',
      'action suspend needs durations, for example durations: [15m, 1h, 1d]',
    ],
  ]);
});

test("a webhook's events are listed once each", () => {
  const { policy, problems } = compile({
    webhooks: [
      { url: 'https://hooks.example.com/x', secret: 's', events: ['block', 'block', 'warning'] },
    ],
  });
  assert.deepEqual(problems, []);
  assert.deepEqual(policy?.webhooks[0].events, ['block', 'warning']);
});
