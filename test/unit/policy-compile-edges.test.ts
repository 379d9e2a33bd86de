/**
 * Edges of compiling the off-hours windows and the routes that the fixture table of
 * policy-mistakes.test.ts does not reach: 24:00, a window with both shapes, windows of
 * the same time on different days, and what a dataset mistake says.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileDocument } from '../../src/core/policy/compile.ts';
import { deepFreeze } from '../../src/core/policy/compile-context.ts';
import { limitMode } from '../../src/core/policy/mode.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
import { formatPath } from '../../src/core/policy/problems.ts';
import { redisTarget } from '../../src/core/policy/redis-target.ts';

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

// Values the schema refuses are skipped by the compiler: each mistake below must give
// the schema's one message, with no second message about the same value and no crash.
test('a value the schema refuses is reported once: the compiler adds nothing about it', () => {
  const rate = (v: string) => `"${v}" is not a rate: write COUNT/UNIT, for example 100/min`;
  const badName = '"bad name!" is not a name: use letters, digits, ".", "-" and "_"';
  const cases: [Record<string, unknown>, [string, string][]][] = [
    [
      { identity: { credentials: ['X-Key', null] } },
      [
        ['identity.credentials[0]', 'expected a mapping of settings, got "X-Key"'],
        ['identity.credentials[1]', 'expected a mapping of settings, got an empty value'],
      ],
    ],
    [
      { identity: { credentials: [{ header: 'bad header' }, { header: 'x y' }] } },
      [
        [
          'identity.credentials[0].header',
          '"bad header" is not a header name: use letters, digits and -',
        ],
        ['identity.credentials[1].header', '"x y" is not a header name: use letters, digits and -'],
      ],
    ],
    [
      // Two unreadable sources of one kind are not "listed twice".
      { identity: { credentials: [{ authorization: 'two words' }, { authorization: 'x y' }] } },
      [
        [
          'identity.credentials[0].authorization',
          '"two words" is not an Authorization scheme: use letters, digits and -, like Bearer',
        ],
        [
          'identity.credentials[1].authorization',
          '"x y" is not an Authorization scheme: use letters, digits and -, like Bearer',
        ],
      ],
    ],
    [
      { identity: { credentials: [{ query: 'a b' }, { query: 'c d' }] } },
      [
        [
          'identity.credentials[0].query',
          '"a b" is not a query parameter name: use letters, digits, ".", "_", "~" and "-"',
        ],
        [
          'identity.credentials[1].query',
          '"c d" is not a query parameter name: use letters, digits, ".", "_", "~" and "-"',
        ],
      ],
    ],
    [
      { offHours: { windows: [{ from: 'Sat 00:00', to: 'Someday' }] } },
      [
        [
          'offHours.windows[0].to',
          '"Someday" is not a day and time: write DAY HH:MM, for example "Sat 00:00"',
        ],
      ],
    ],
    [
      {
        routes: [
          { name: 'bad name!', path: '/a' },
          { name: 'bad name!', path: '/b' },
        ],
      },
      [
        ['routes[0].name', badName],
        ['routes[1].name', badName],
      ],
    ],
    [
      { routes: [{ name: 'x', path: '/x/:id', class: 'bluk', dataset: ':nope' }] },
      [
        [
          'routes[0].class',
          'must be one of: public, non-public, bulk, batch; got "bluk" (did you mean "bulk"?)',
        ],
      ],
    ],
    [
      { routes: [{ name: 'x', path: '/x/:id', class: 'bulk', dataset: 5 }] },
      [
        [
          'routes[0].dataset',
          '5 is not a dataset: write a name like companies, or ":segment" to take it from the path',
        ],
      ],
    ],
    [
      { routes: [{ name: 'x', path: 'x/:id', class: 'bulk', dataset: ':id' }] },
      [
        [
          'routes[0].path',
          '"x/:id" is not a route path: it must start with "/", for example /api/search, /api/reports/**, /api/exports/:dataset or /api/:collection(companies|devices)',
        ],
      ],
    ],
    [
      // "1000" >= 256 as JavaScript compares: no "must be lower" about a value that is no number.
      { server: { unauthenticatedConcurrency: '1000' } },
      [['server.unauthenticatedConcurrency', 'expected a whole number, got "1000"']],
    ],
    [
      { server: { upstreamConnections: '2' } },
      [['server.upstreamConnections', 'expected a whole number, got "2"']],
    ],
    [
      { plans: { p: { base: '60/min', min: 'lots', max: '100/min' } } },
      [['plans.p.min', rate('lots')]],
    ],
    [
      { plans: { p: { base: '60/min', min: '10/min', max: 'lots' } } },
      [['plans.p.max', rate('lots')]],
    ],
    [{ plans: { p: { base: 'lots' } } }, [['plans.p.base', rate('lots')]]],
    [{ plans: 'x' }, [['plans', 'expected a mapping of settings, got "x"']]],
    // Not read as a plan named "0" whose max is under the standard min.
    [{ plans: [{ max: '1/min' }] }, [['plans', 'expected a mapping of settings, got a list']]],
    [{ defaultPlan: 'bad name!' }, [['defaultPlan', badName]]],
    [
      { safeguards: { malformedStorm: { action: 'ban' } } },
      [
        [
          'safeguards.malformedStorm.action',
          'must be one of: block-ip, suspend, revoke; got "ban"',
        ],
      ],
    ],
    [
      { webhooks: [{ url: 'https://h.example.com/x', secretEnv: 'bad name' }] },
      [
        [
          'webhooks[0].secretEnv',
          '"bad name" is not an environment variable name, for example SLUICE_SECRET',
        ],
      ],
    ],
    [{ ip: null }, [['ip', 'expected a mapping of settings, got an empty value']]],
    [
      { safeguards: { ignoring429: null } },
      [['safeguards.ignoring429', 'expected a mapping of settings, got an empty value']],
    ],
    [
      { safeguards: { ignoring430: { action: 'suspend' } } },
      [['safeguards.ignoring430', 'unknown setting "ignoring430" (did you mean "ignoring429"?)']],
    ],
  ];
  for (const [doc, expected] of cases) {
    assert.deepEqual(compile(doc).problems, expected, JSON.stringify(doc));
  }
});

test('an authorization source listed twice is found whatever the case of its scheme; two schemes are two sources', () => {
  assert.deepEqual(
    compile({
      identity: { credentials: [{ authorization: 'Bearer' }, { authorization: 'bearer' }] },
    }).problems,
    [['identity.credentials[1]', 'authorization bearer is listed twice']],
  );
  const two = compile({
    identity: { credentials: [{ authorization: 'Bearer' }, { authorization: 'Basic' }] },
  });
  assert.deepEqual(two.problems, []);
  assert.deepEqual(two.policy?.identity.credentials, [
    { kind: 'authorization', scheme: 'Bearer' },
    { kind: 'authorization', scheme: 'Basic' },
  ]);
});

test('a credential source that names no kind says which to write', () => {
  assert.deepEqual(compile({ identity: { credentials: [{}] } }).problems, [
    [
      'identity.credentials[0]',
      'a credential source names one of header, authorization or query, like { header: X-API-Key }',
    ],
  ]);
});

test('a window with only to (no from) needs both', () => {
  assert.deepEqual(compile({ offHours: { windows: [{ to: 'Sun 20:00' }] } }).problems, [
    [
      'offHours.windows[0]',
      'a window needs from and to (like from: "Sat 00:00", to: "Sun 20:00"), or daily (like daily: "01:00-03:00")',
    ],
  ]);
});

test("a plan's name that is not a name points at the key, not at the value", () => {
  assert.throws(
    () => parsePolicyText('plans:\n  "bad name!": 60/min\n', 'p.yaml'),
    (e: { problems: unknown }) => {
      assert.deepEqual(e.problems, [
        {
          path: 'plans["bad name!"]',
          line: 2,
          column: 3,
          message: 'plan name "bad name!" is not a name: use letters, digits, ".", "-" and "_"',
        },
        {
          path: 'plans["bad name!"]',
          line: 2,
          column: 16,
          message: 'expected a mapping of settings, got "60/min"',
        },
      ]);
      return true;
    },
  );
});

test('a setting given as undefined (a policy built in code) is as if not written', () => {
  const { policy, problems } = compile({ ip: undefined });
  assert.deepEqual(problems, []);
  assert.deepEqual(policy?.ip, compile({}).policy?.ip);
});

test('safeguards: one rule changed keeps the others; the same action keeps its durations', () => {
  const { policy, problems } = compile({
    safeguards: { ignoring429: { threshold: 5, action: 'suspend' } },
  });
  assert.deepEqual(problems, []);
  assert.deepEqual(policy?.safeguards.ignoring429, {
    enabled: true,
    dryRun: false,
    threshold: 5,
    windowMs: 60_000,
    action: 'suspend',
    durationsMs: [900_000, 3_600_000, 86_400_000],
    revokeAfter: 3,
  });
  assert.deepEqual(policy?.safeguards.afterAuthFailure, {
    enabled: true,
    dryRun: false,
    threshold: 50,
    windowMs: 60_000,
    action: 'block-ip',
    durationsMs: [3_600_000, 86_400_000, 604_800_000],
    revokeAfter: undefined,
  });
});

test('the mode of a request: the route, else the plan, else the policy', () => {
  assert.equal(limitMode({ mode: 'enforce' }, { mode: 'enforce' }, { mode: 'shadow' }), 'shadow');
  assert.equal(limitMode({ mode: 'shadow' }, { mode: 'enforce' }, { mode: undefined }), 'enforce');
  assert.equal(limitMode({ mode: 'enforce' }, { mode: 'shadow' }, undefined), 'shadow');
  assert.equal(limitMode({ mode: 'shadow' }, undefined, undefined), 'shadow');
  assert.equal(limitMode({ mode: 'enforce' }, { mode: undefined }, { mode: undefined }), 'enforce');
});

test('a Redis URL is printed as written unless it holds a password', () => {
  assert.equal(redisTarget({ url: 'redis://10.0.0.5:6379' }), 'Redis redis://10.0.0.5:6379');
  assert.equal(
    redisTarget({ url: 'redis://:s3cret@10.0.0.5:6379' }),
    'Redis redis://:***@10.0.0.5:6379',
  );
  assert.equal(redisTarget({ url: 'not a url' }), 'Redis not a url');
});

test('deepFreeze freezes what a value holds and stops at what is frozen, so a cycle ends', () => {
  const cyclic: Record<string, unknown> = { inner: { n: 1 } };
  cyclic.self = cyclic;
  assert.equal(deepFreeze(cyclic), cyclic);
  assert.equal(Object.isFrozen(cyclic), true);
  assert.equal(Object.isFrozen(cyclic.inner), true);
});

test('a daily window of 00:00-24:00 is the whole day, every day; 24:00-00:00 is still refused', () => {
  const { policy, problems } = compile({ offHours: { windows: [{ daily: '00:00-24:00' }] } });
  assert.deepEqual(problems, []);
  assert.deepEqual(policy?.offHours.windows[2], {
    fromDay: 2,
    fromMinute: 0,
    toDay: 3,
    toMinute: 0,
  });
  assert.equal(policy?.offHours.windows.length, 7);
  for (const daily of ['24:00-00:00', '00:00-00:00', '24:00-24:00']) {
    assert.deepEqual(compile({ offHours: { windows: [{ daily }] } }).problems, [
      ['offHours.windows[0].daily', `"${daily}" starts and ends at the same time, so it is empty`],
    ]);
  }
});
