import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { isSluiceError } from '../../src/core/errors.ts';
import { defaultPolicy } from '../../src/core/policy/built-in-policy.ts';
import { compilePolicy } from '../../src/core/policy/compile.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';

const S = 1_000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

const fixture = (name: string) =>
  readFileSync(new URL(`../fixtures/policy/${name}`, import.meta.url), 'utf8');

test('a partial section is merged over the defaults', () => {
  const policy = parsePolicyText('ip:\n  warn: 50/min\n', 'p.yaml');
  assert.deepEqual(policy.ip, {
    warn: { limit: 50, periodMs: M },
    block: { limit: 200, periodMs: M },
    concurrency: 32,
    sharedEgress: [],
  });
  const { ip: _a, source: _b, ...rest } = policy;
  const { ip: _c, source: _d, ...defaults } = defaultPolicy();
  assert.deepEqual(rest, defaults, 'everything else keeps its default');
});

test('nested mappings merge key by key; lists replace', () => {
  const policy = parsePolicyText(
    [
      'server:',
      '  identityHeaders: { key: X-Key }',
      '  trustedProxies: [10.0.0.1]',
      'offHours:',
      '  windows: [{ daily: "02:00-04:00" }]',
    ].join('\n'),
    'p.yaml',
  );
  assert.deepEqual(policy.server.identityHeaders, { account: 'X-Sluice-Account', key: 'X-Key' });
  assert.deepEqual(policy.server.trustedProxies, ['10.0.0.1']);
  assert.equal(policy.server.listen.port, 8080);
  assert.equal(policy.offHours.windows.length, 7, 'only the daily window is left');
  assert.equal(policy.offHours.timeZone, 'America/New_York');
});

test('plans merge by name: a plan the file names is merged over its default, the others stay', () => {
  const policy = parsePolicyText(
    'defaultPlan: gold\nplans:\n  gold: { burst: 5 }\n  enterprise: { burst: 50 }\n',
    'p.yaml',
  );
  assert.deepEqual(Object.keys(policy.plans), ['standard', 'enterprise', 'gold']);
  const standard = defaultPolicy().plans.standard;
  assert.deepEqual(policy.plans.standard, standard, 'a plan the file leaves out keeps its default');
  assert.deepEqual(policy.plans.gold, { ...standard, name: 'gold', burst: 5 });
  const enterprise = defaultPolicy().plans.enterprise;
  assert.deepEqual(policy.plans.enterprise, { ...enterprise, burst: 50 });
});

test('a plans section with one override keeps enterprise, and a new plan needs no defaultPlan', () => {
  const override = parsePolicyText('plans:\n  standard: { burst: 7 }\n', 'p.yaml');
  assert.equal(override.plans.standard.burst, 7);
  assert.deepEqual(override.plans.enterprise, defaultPolicy().plans.enterprise);
  const added = parsePolicyText('plans:\n  gold: { base: 600/min }\n', 'p.yaml');
  assert.deepEqual(Object.keys(added.plans), ['standard', 'enterprise', 'gold']);
  assert.equal(added.defaultPlan, 'standard');
  assert.equal(added.plans.gold.base.limit, 600);
});

test('valid-partial.yaml changes only what it says', () => {
  const policy = parsePolicyText(fixture('valid-partial.yaml'), 'valid-partial.yaml');
  assert.equal(policy.ip.warn.limit, 50);
  assert.equal(policy.ip.block.limit, 200);
  assert.equal(policy.plans.standard.burst, 30);
  assert.equal(policy.plans.standard.concurrency, 4);
  assert.deepEqual(Object.keys(policy.plans), ['standard', 'enterprise'], 'merged by name');
});

test("a safeguard whose action changes does not keep the old action's durations", () => {
  const policy = parsePolicyText(
    'safeguards:\n  ignoring429: { action: revoke }\n  nonPublicAutomation: { action: suspend, durations: [1h] }\n',
    'p.yaml',
  );
  assert.deepEqual(policy.safeguards.ignoring429.durationsMs, []);
  assert.equal(policy.safeguards.ignoring429.revokeAfter, undefined);
  assert.equal(policy.safeguards.ignoring429.threshold, 100, 'the threshold is kept');
  assert.deepEqual(policy.safeguards.nonPublicAutomation.durationsMs, [H]);
});

test('valid-full.yaml: every setting compiles to its value', () => {
  const policy = parsePolicyText(fixture('valid-full.yaml'), 'valid-full.yaml', {
    SLUICE_TEST_WEBHOOK_SECRET: 'from-the-environment',
  });
  assert.deepEqual(policy.server, {
    listen: { host: '0.0.0.0', port: 9090 },
    upstream: 'https://api.internal.example.com:8443/v1',
    dataDir: '/var/lib/sluice',
    trustedProxies: ['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8'],
    upstreamTimeoutMs: 45 * S,
    caseSensitiveRoutes: true,
    upstreamConnections: 128,
    requestTimeoutMs: 20 * S,
    bufferBodyBytes: 256 * 1024,
    unauthenticated: 'refuse',
    unauthenticatedConcurrency: 16,
    identityHeaders: { account: 'X-Account-Id', key: 'X-Api-Key-Id' },
    preserveHost: false,
    publicUrl: 'https://api.example.com/public',
    legacyRateLimitHeaders: true,
    threads: 2,
  });
  assert.deepEqual(policy.ip, {
    warn: { limit: 150, periodMs: M },
    block: { limit: 300, periodMs: M },
    concurrency: 8,
    sharedEgress: ['192.0.2.0/24', '2001:db8::/32'],
  });
  assert.equal(policy.defaultPlan, 'basic');
  assert.deepEqual(policy.plans.basic, {
    name: 'basic',
    base: { limit: 30, periodMs: M },
    perUnit: { limit: 0.5, periodMs: M }, // 1/2min, over the base's minute
    min: { limit: 30, periodMs: M },
    max: { limit: 300, periodMs: M }, // 5/s
    burst: 10,
    maxDelayMs: 5 * S,
    maxSlowed: 5,
    concurrency: 2,
    queue: 10,
    queueTimeoutMs: 20 * S,
  });
  assert.deepEqual(policy.plans.enterprise, { ...defaultPolicy().plans.enterprise, burst: 80 });
  assert.deepEqual(policy.routes, [
    {
      name: 'reports',
      methods: [],
      path: '/api/reports/**',
      query: [],
      cost: 1,
      class: 'non-public',
      dataset: 'reports',
      rate: undefined,
    },
    {
      name: 'export',
      methods: ['GET', 'HEAD'],
      path: '/api/exports/:dataset',
      query: [],
      cost: 10,
      class: 'bulk',
      dataset: ':dataset',
      rate: undefined,
    },
    {
      name: 'audit-export',
      methods: [],
      path: '/api/audit/export',
      query: [],
      cost: 1,
      class: 'bulk',
      dataset: 'audit-log',
      rate: undefined,
    },
    {
      name: 'search',
      methods: ['POST'],
      path: '/api/*/search',
      query: [],
      cost: 5,
      class: 'public',
      dataset: 'search',
      rate: { limit: 10, periodMs: M },
    },
    {
      name: 'full-listing',
      methods: ['GET'],
      path: '/api/:collection',
      query: [
        { param: 'modifiedAfter', present: false },
        { param: 'cursor', present: true },
      ],
      cost: 1,
      class: 'batch',
      dataset: 'full-listing',
      rate: undefined,
    },
  ]);
  assert.deepEqual(policy.bulk, { allow: { limit: 2, periodMs: 7 * D } });
  const nightly = [0, 1, 2, 3, 4, 5, 6].map((day) => ({
    fromDay: day,
    fromMinute: 23 * 60,
    toDay: (day + 1) % 7,
    toMinute: 120,
  }));
  assert.deepEqual(policy.offHours, {
    timeZone: 'Europe/Paris',
    windows: [{ fromDay: 5, fromMinute: 22 * 60, toDay: 1, toMinute: 6 * 60 }, ...nightly],
    batchMultiplier: 2.5,
    confineBatch: true,
  });
  assert.deepEqual(policy.safeguards, {
    afterAuthFailure: {
      enabled: true,
      dryRun: true,
      threshold: 20,
      windowMs: 5 * M,
      action: 'block-ip',
      durationsMs: [30 * M, 12 * H],
      revokeAfter: undefined,
    },
    ignoring429: {
      enabled: true,
      dryRun: false,
      threshold: 50,
      windowMs: 2 * M,
      action: 'suspend',
      durationsMs: [5 * M, H],
      revokeAfter: 2,
    },
    malformedStorm: {
      enabled: false,
      dryRun: false,
      threshold: 500,
      windowMs: M,
      action: 'suspend',
      durationsMs: [H],
      revokeAfter: undefined,
    },
    nonPublicAutomation: {
      enabled: true,
      dryRun: false,
      threshold: 1,
      windowMs: 7 * D,
      action: 'revoke',
      durationsMs: [],
      revokeAfter: undefined,
    },
  });
  assert.deepEqual(policy.webhooks, [
    {
      url: 'https://ops.example.com/sluice',
      secret: 'from-the-environment',
      events: ['warning', 'suspension', 'revocation', 'block'],
    },
    { url: 'http://127.0.0.1:9999/hook', secret: 'inline-secret-value', events: ['revocation'] },
  ]);
  assert.deepEqual(policy.interactive, { cookie: 'app_session' });
  assert.equal(policy.source, 'valid-full.yaml');
});

test('a webhook without events gets every event', () => {
  const policy = parsePolicyText('webhooks:\n  - { url: "https://x.example", secret: k }\n', 'p');
  assert.deepEqual(policy.webhooks[0].events, ['warning', 'suspension', 'revocation', 'block']);
});

test('an empty environment variable is a mistake too', () => {
  const text = 'webhooks:\n  - { url: "https://x.example", secretEnv: HOOK_KEY }\n';
  assert.throws(
    () => parsePolicyText(text, 'p.yaml', { HOOK_KEY: '' }),
    (e: unknown) =>
      isSluiceError(e) && e.problems[0].message === 'the environment variable HOOK_KEY is empty',
  );
  assert.equal(parsePolicyText(text, 'p.yaml', { HOOK_KEY: 'k' }).webhooks[0].secret, 'k');
});

test('compilePolicy reports every problem by path, without lines', () => {
  assert.throws(
    () => compilePolicy({ ip: { warn: 'lots' }, plans: { standard: { burst: 0 } } }, 'inline'),
    (e: unknown) => {
      assert.ok(isSluiceError(e));
      assert.equal(e.code, 'SLUICE_ERR_POLICY_INVALID');
      assert.equal(e.message, 'inline has 2 mistakes');
      assert.deepEqual(
        e.problems.map((p) => [p.path, p.line]),
        [
          ['ip.warn', undefined],
          ['plans.standard.burst', undefined],
        ],
      );
      return true;
    },
  );
});

test('a misspelling gets a suggestion in any section, a far-off one the known keys', () => {
  const messages = (text: string) => {
    try {
      parsePolicyText(text, 'p.yaml');
      return [];
    } catch (e) {
      return isSluiceError(e) ? e.problems.map((p) => p.message) : [];
    }
  };
  assert.deepEqual(messages('offHours:\n  batch_multiplier: 2\n'), [
    'unknown setting "batch_multiplier" (did you mean "batchMultiplier"?)',
  ]);
  assert.deepEqual(messages('sever:\n  listen: 127.0.0.1:1\n'), [
    'unknown setting "sever" (did you mean "server"?)',
  ]);
  assert.deepEqual(messages('routes:\n  - { name: a, path: /a, clas: bulk }\n'), [
    'unknown setting "clas" (did you mean "class"?)',
  ]);
  assert.deepEqual(messages('routes:\n  - { name: a, path: /a, class: bulkk }\n'), [
    'must be one of: public, non-public, bulk, batch; got "bulkk" (did you mean "bulk"?)',
  ]);
});
