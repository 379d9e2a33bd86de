import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultPolicy } from '../../src/core/policy/built-in-policy.ts';
import { compilePolicy } from '../../src/core/policy/compile.ts';
import { DEFAULT_POLICY_YAML } from '../../src/core/policy/default-policy.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
import type { Policy } from '../../src/core/policy/types.ts';

const S = 1_000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;
const perMin = (limit: number) => ({ limit, periodMs: M });
const daily = (day: number) => ({ fromDay: day, fromMinute: 60, toDay: day, toMinute: 180 });

/** The defaults of the brief, written out by hand. */
const EXPECTED: Policy = {
  version: 1,
  mode: 'enforce',
  server: {
    listen: { host: '127.0.0.1', port: 8080 },
    upstream: undefined,
    dataDir: './data',
    trustedProxies: [],
    upstreamTimeoutMs: 30 * S,
    caseSensitiveRoutes: false,
    upstreamConnections: 256,
    requestTimeoutMs: 30 * S,
    bufferBodyBytes: 1024 * 1024,
    unauthenticated: 'ip-only',
    unauthenticatedConcurrency: 64,
    identityHeaders: { account: 'X-Sluice-Account', key: 'X-Sluice-Key-Id' },
    preserveHost: true,
    publicUrl: undefined,
    legacyRateLimitHeaders: false,
    threads: 1,
  },
  ip: { warn: perMin(100), block: perMin(200), concurrency: 32, sharedEgress: [] },
  defaultPlan: 'standard',
  plans: {
    standard: {
      name: 'standard',
      base: perMin(60),
      perUnit: perMin(2),
      min: perMin(60),
      max: perMin(600),
      burst: 20,
      maxDelayMs: 10 * S,
      maxSlowed: 10,
      concurrency: 4,
      queue: 20,
      queueTimeoutMs: 30 * S,
    },
    enterprise: {
      name: 'enterprise',
      base: perMin(120),
      perUnit: perMin(4),
      min: perMin(120),
      max: perMin(1200),
      burst: 40,
      maxDelayMs: 10 * S,
      maxSlowed: 20,
      concurrency: 8,
      queue: 40,
      queueTimeoutMs: 30 * S,
    },
  },
  routes: [
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
      methods: [],
      path: '/api/exports/:dataset',
      query: [],
      cost: 1,
      class: 'bulk',
      dataset: ':dataset',
      rate: undefined,
    },
    {
      name: 'search',
      methods: ['GET'],
      path: '/api/search',
      query: [],
      cost: 5,
      class: 'public',
      dataset: 'search',
      rate: undefined,
    },
    {
      name: 'full-listing',
      methods: ['GET'],
      path: '/api/:collection(companies|devices|jobs|logs)',
      query: [{ param: 'modifiedAfter', present: false }],
      cost: 1,
      class: 'batch',
      dataset: 'full-listing',
      rate: perMin(30),
    },
  ],
  bulk: { allow: { limit: 1, periodMs: 30 * D } },
  offHours: {
    timeZone: 'America/New_York',
    windows: [
      { fromDay: 6, fromMinute: 0, toDay: 0, toMinute: 20 * 60 },
      ...[0, 1, 2, 3, 4, 5, 6].map(daily),
    ],
    batchMultiplier: 4,
    confineBatch: false,
  },
  safeguards: {
    afterAuthFailure: {
      enabled: true,
      dryRun: false,
      threshold: 50,
      windowMs: M,
      action: 'block-ip',
      durationsMs: [H, D, 7 * D],
      revokeAfter: undefined,
    },
    ignoring429: {
      enabled: true,
      dryRun: false,
      threshold: 100,
      windowMs: M,
      action: 'suspend',
      durationsMs: [15 * M, H, D],
      revokeAfter: 3,
    },
    malformedStorm: {
      enabled: true,
      dryRun: false,
      threshold: 200,
      windowMs: M,
      action: 'suspend',
      durationsMs: [15 * M, H, D],
      revokeAfter: undefined,
    },
    nonPublicAutomation: {
      enabled: true,
      dryRun: false,
      threshold: 3,
      windowMs: D,
      action: 'revoke',
      durationsMs: [],
      revokeAfter: undefined,
    },
  },
  webhooks: [],
  interactive: { cookie: 'session' },
  identity: {
    credentials: [
      { kind: 'authorization', scheme: 'Bearer' },
      { kind: 'header', name: 'x-api-key', label: 'X-API-Key' },
    ],
    stripCredential: { sluice: true, imported: false, delegated: false },
    delegate: undefined,
  },
  store: { kind: 'memory' },
  source: 'built-in default',
};

test('the default policy is exactly the documented defaults', () => {
  assert.deepEqual(defaultPolicy(), EXPECTED);
});

test('the default policy text is itself a valid policy file with the same values', () => {
  assert.deepEqual(parsePolicyText(DEFAULT_POLICY_YAML, 'built-in default'), EXPECTED);
  assert.deepEqual(compilePolicy({}, 'built-in default'), EXPECTED);
  assert.match(DEFAULT_POLICY_YAML, /^# /m, 'the default policy text is commented');
});

test('a compiled policy is deeply frozen', () => {
  const policy = parsePolicyText('ip:\n  warn: 50/min\n', 'p.yaml');
  const seen: unknown[] = [];
  const walk = (value: unknown, path: string) => {
    if (typeof value !== 'object' || value === null) return;
    assert.ok(Object.isFrozen(value), `${path} is not frozen`);
    seen.push(value);
    for (const [key, child] of Object.entries(value)) walk(child, `${path}.${key}`);
  };
  walk(policy, 'policy');
  assert.ok(seen.length > 40, 'the walk reached the nested values');
  assert.throws(() => {
    (policy.ip.warn as { limit: number }).limit = 1;
  }, TypeError);
  assert.throws(() => {
    (policy.routes as unknown[]).push({});
  }, TypeError);
});

test('compiling one file does not change the defaults of the next', () => {
  parsePolicyText('plans:\n  standard:\n    burst: 99\nip:\n  warn: 10/min\n', 'a.yaml');
  const next = parsePolicyText('', 'b.yaml');
  assert.equal(next.plans.standard.burst, 20);
  assert.deepEqual(next.ip.warn, perMin(100));
});
