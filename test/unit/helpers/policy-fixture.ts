/**
 * A complete compiled `Policy` written out literally, for engine tests: no YAML loader
 * involved. Values follow the product's defaults (IP warn 100/min, block 200/min).
 *
 * @example
 * const policy = testPolicy({ ip: { warn: perMinute(1), block: perMinute(2), concurrency: 32 } });
 */
import type { Plan, Policy, Rate, SafeguardRule } from '../../../src/core/policy/types.ts';

export const MINUTE = 60_000;

export function perMinute(limit: number): Rate {
  return { limit, periodMs: MINUTE };
}

/** 60/min plus 2/min per unit of size, within 60…600/min; burst 5, slowed up to 2 s. */
export const STANDARD: Plan = {
  name: 'standard',
  base: perMinute(60),
  perUnit: perMinute(2),
  min: perMinute(60),
  max: perMinute(600),
  burst: 5,
  maxDelayMs: 2_000,
  maxSlowed: 3,
  concurrency: 4,
  queue: 10,
  queueTimeoutMs: 5_000,
};

/** A small plan with one slowed request at most and no growth with size. */
export const TINY: Plan = {
  name: 'tiny',
  base: perMinute(60),
  perUnit: perMinute(0),
  min: perMinute(60),
  max: perMinute(60),
  burst: 2,
  maxDelayMs: 2_000,
  maxSlowed: 1,
  concurrency: 1,
  queue: 2,
  queueTimeoutMs: 5_000,
};

const RULE: SafeguardRule = {
  enabled: true,
  dryRun: false,
  threshold: 1000,
  windowMs: 10 * MINUTE,
  action: 'suspend',
  durationsMs: [15 * MINUTE, 60 * MINUTE],
  revokeAfter: 3,
};

export function testPolicy(overrides: Partial<Policy> = {}): Policy {
  const policy: Policy = {
    version: 1,
    mode: 'enforce',
    server: {
      listen: { host: '127.0.0.1', port: 0 },
      upstream: 'http://127.0.0.1:3000',
      dataDir: './data',
      trustedProxies: [],
      upstreamTimeoutMs: 30_000,
      caseSensitiveRoutes: false,
      upstreamConnections: 256,
      requestTimeoutMs: 30_000,
      bufferBodyBytes: 1_048_576,
      unauthenticated: 'ip-only',
      unauthenticatedConcurrency: 64,
      identityHeaders: { account: 'x-sluice-account', key: 'x-sluice-key-id' },
      preserveHost: true,
      publicUrl: undefined,
      legacyRateLimitHeaders: false,
      threads: 1,
    },
    ip: { warn: perMinute(100), block: perMinute(200), concurrency: 32, sharedEgress: [] },
    defaultPlan: 'standard',
    plans: { standard: STANDARD, tiny: TINY },
    routes: [],
    bulk: { allow: { limit: 1, periodMs: 30 * 24 * 60 * MINUTE } },
    offHours: {
      timeZone: 'America/New_York',
      windows: [{ fromDay: 6, fromMinute: 0, toDay: 0, toMinute: 20 * 60 }],
      batchMultiplier: 4,
      confineBatch: false,
    },
    safeguards: {
      afterAuthFailure: { ...RULE, action: 'revoke', durationsMs: [] },
      ignoring429: RULE,
      malformedStorm: RULE,
      nonPublicAutomation: { ...RULE, threshold: 3, action: 'revoke', durationsMs: [] },
    },
    webhooks: [],
    interactive: { cookie: 'session' },
    identity: {
      credentials: [
        { kind: 'authorization', scheme: 'Bearer' },
        { kind: 'header', name: 'x-api-key' },
      ],
      stripCredential: { sluice: true, imported: false, delegated: false },
      delegate: undefined,
    },
    store: { kind: 'memory' },
    source: 'test fixture',
    ...overrides,
  };
  return policy;
}
