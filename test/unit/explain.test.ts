import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RULES } from '../../src/core/decision.ts';
import { dryRunFlag, wasDryRun } from '../../src/core/incident-facts.ts';
import type { Incident, SafeguardRuleId } from '../../src/core/records.ts';
import { EXPLAINED_RULES, explainIncident } from '../../src/words/explain.ts';

const SAFEGUARDS: readonly SafeguardRuleId[] = [
  'safeguard-auth-failure',
  'safeguard-ignoring-429',
  'safeguard-malformed-storm',
  'safeguard-non-public',
];

/** Counters each rule's explanation reads (docs/incidents.md), with distinctive numbers. */
const SAMPLE: Record<Incident['rule'], Record<string, number | string>> = {
  'ip-block': { ipRequests: 214, ipBlock: 200, ipWarn: 100 },
  'account-rate': {
    account: 'acme',
    plan: 'standard',
    size: 12,
    rate: 600,
    periodSec: 60,
    burst: 20,
    cost: 5,
    maxDelayMs: 10_000,
  },
  'account-slowed': {
    account: 'acme',
    plan: 'standard',
    size: 12,
    rate: 600,
    periodSec: 60,
    burst: 20,
    cost: 1,
    slowed: 17,
    maxSlowed: 16,
  },
  'account-queue': { inflight: 4, queued: 32, concurrency: 4, queue: 32 },
  'account-queue-timeout': { inflight: 4, queued: 31, concurrency: 4, queue: 32 },
  'route-rate': { route: 'search', account: 'acme', routeRate: 30, periodSec: 60 },
  'bulk-export': { dataset: 'companies', allowed: 1, periodMs: 30 * 86_400_000, exports: 1 },
  'batch-window': { route: 'full-sync', windows: 'Sat 00:00 to Sun 20:00 America/New_York' },
  'non-public': { route: 'reports' },
  'key-revoked': { keyStatus: 'revoked', reason: 'RL-AB12-CD34' },
  'key-suspended': {
    keyStatus: 'suspended',
    reason: 'ignoring 429',
    suspendedUntil: '2026-03-01T13:00:00.000Z',
  },
  'key-unknown': {},
  'key-missing': {},
  'ip-blocked': { reason: 'RL-ZZ99-YY88', blockedUntil: '2026-03-02T12:00:00.000Z' },
  'ip-concurrency': { ipHeld: 33, ipConcurrency: 32 },
  'unauthenticated-concurrency': { keylessHeld: 65, unauthenticatedConcurrency: 64 },
  // As the safeguard observer records them (src/core/safeguard), plus the action taken.
  'safeguard-auth-failure': {
    observations: 5123,
    threshold: 5000,
    windowMs: 600_000,
    offence: 2,
    durationMs: 3_600_000,
    action: 'block-ip',
  },
  'safeguard-ignoring-429': {
    observations: 1207,
    threshold: 1000,
    windowMs: 300_000,
    offence: 1,
    durationMs: 900_000,
    action: 'suspend',
  },
  'safeguard-malformed-storm': {
    observations: 2345,
    threshold: 2000,
    windowMs: 600_000,
    offence: 1,
  },
  'safeguard-non-public': {
    observations: 3,
    threshold: 3,
    windowMs: 86_400_000,
    offence: 3,
    action: 'revoke',
  },
};

function incident(rule: Incident['rule'], over: Partial<Incident> = {}): Incident {
  return {
    reference: 'RL-7KQ4-M9XT',
    rule,
    subject: { accountId: 'acme', keyId: '7KQ4M9XT2B', ip: '203.0.113.9' },
    startedAt: 0,
    endedAt: 1,
    count: 1,
    counters: SAMPLE[rule],
    note: undefined,
    ...over,
  };
}

test('every rule in RULES and every safeguard rule has an explanation', () => {
  assert.deepEqual([...EXPLAINED_RULES].sort(), [...RULES, ...SAFEGUARDS].sort());
});

for (const rule of [...RULES, ...SAFEGUARDS]) {
  test(`${rule}: plain title, what, why and fix that show the counters`, () => {
    const e = explainIncident(incident(rule));
    for (const field of ['title', 'what', 'why', 'fix'] as const) {
      assert.ok(e[field].trim().length > 10, `${field} is empty`);
      assert.doesNotMatch(e[field], /undefined|NaN|\[object/, `${field}: ${e[field]}`);
    }
    const text = `${e.what} ${e.why} ${e.fix}`;
    for (const [name, value] of Object.entries(SAMPLE[rule])) {
      // Durations are written in words; the rule's own status is said in words too.
      // Durations and periods are written in words; some counters repeat what the words say.
      if (/(Ms|Sec)$/.test(name) || ['keyStatus', 'action', 'account', 'cost'].includes(name)) {
        if (!(name === 'cost' && value !== 1)) continue;
      }
      assert.ok(
        text.includes(String(value)),
        `${rule}: counter ${name}=${value} is not in: ${text}`,
      );
    }
  });
}

test('ip-block reads as support would say it', () => {
  const e = explainIncident(
    incident('ip-block', {
      subject: { ip: '203.0.113.9' },
      counters: { ipRequests: 214, ipBlock: 200 },
    }),
  );
  assert.equal(e.what, 'Requests from IP 203.0.113.9 were refused with 429 Too Many Requests.');
  assert.equal(
    e.why,
    'This IP sent 214 requests within one minute; the limit is 200 per minute per IP.',
  );
  assert.equal(
    e.fix,
    'Pace requests below 200 per minute from one address, wait for the Retry-After time after a 429, and do not add concurrency when responses slow down.',
  );
  // The engine also records the warning threshold.
  assert.match(explainIncident(incident('ip-block')).why, / Warnings start at 100 per minute\.$/);
});

test('durations are in words, and safeguard actions say what was done', () => {
  const q = explainIncident(
    incident('account-queue-timeout', { counters: { queueTimeoutMs: 30_000 } }),
  );
  assert.match(q.why, /at most 30 seconds/);
  const s = explainIncident(incident('safeguard-ignoring-429'));
  assert.equal(s.what, 'API key 7KQ4M9XT2B of account acme was suspended for 15 minutes.');
  assert.match(
    s.why,
    /1207 requests refused with 429 within 5 minutes; the safeguard acts at 1000 \(1st offence\)\./,
  );
  const b = explainIncident(incident('safeguard-auth-failure'));
  assert.equal(b.what, 'IP 203.0.113.9 was blocked for 1 hour.');
  assert.match(b.why, /\(2nd offence\)/);
  const r = explainIncident(incident('account-rate'));
  assert.equal(
    r.why,
    'The account may make 600 requests per minute (plan standard, size 12, bursts of up to 20); this request costs 5. This request would have had to wait to conform, longer than the maximum delay of 10 seconds.',
  );
  const dry = explainIncident(
    incident('safeguard-non-public', {
      counters: { ...SAMPLE['safeguard-non-public'], dryRun: 'true' },
    }),
  );
  assert.match(
    dry.what,
    /^Dry run, nothing was done: API key 7KQ4M9XT2B of account acme would have been revoked\.$/,
  );
});

test('a safeguard incident as the enforcer stores it says whether anything was done', () => {
  // The stored words come from the writer's own type (dryRunFlag), never a literal here.
  const stored = (dryRun: boolean) =>
    explainIncident(
      incident('safeguard-ignoring-429', {
        subject: { keyId: 'K1', accountId: 'acme' },
        counters: {
          observations: 3,
          threshold: 3,
          windowMs: 60_000,
          offence: 1,
          durationMs: 3_600_000,
          action: 'suspend',
          dryRun: dryRunFlag(dryRun),
        },
      }),
    ).what;
  assert.equal(
    stored(true),
    'Dry run, nothing was done: API key K1 of account acme would have been suspended for 1 hour.',
  );
  assert.equal(stored(false), 'API key K1 of account acme was suspended for 1 hour.');
  // Rows written before the facts were typed hold the same words.
  assert.equal(wasDryRun('yes'), true);
  assert.equal(wasDryRun('no'), false);
});

test('without an action counter, the action is read from the subject only when unambiguous', () => {
  const counters = { observations: 10, threshold: 10, windowMs: 60_000, offence: 1 };
  const what = (subject: Incident['subject'], extra: Record<string, number> = {}) =>
    explainIncident(
      incident('safeguard-malformed-storm', { subject, counters: { ...counters, ...extra } }),
    ).what;
  assert.equal(
    what({ ip: '203.0.113.9' }, { durationMs: 60_000 }),
    'IP 203.0.113.9 was blocked for 1 minute.',
  );
  assert.equal(
    what({ keyId: 'K1', accountId: 'acme' }, { durationMs: 60_000 }),
    'API key K1 of account acme was suspended for 1 minute.',
  );
  assert.equal(what({ keyId: 'K1', accountId: 'acme' }), 'API key K1 of account acme was revoked.');
  assert.equal(
    what({ keyId: 'K1', accountId: 'acme', ip: '203.0.113.9' }),
    'The safeguard acted on API key K1 of account acme from IP 203.0.113.9.',
  );
});

test('counters no sentence names, and the note, still reach support', () => {
  const e = explainIncident(
    incident('bulk-export', {
      counters: { ...SAMPLE['bulk-export'], shard: 3 },
      note: 'next export allowed 2026-03-31T12:00:00Z',
    }),
  );
  assert.match(e.why, /Counters at the time: shard 3\./);
  assert.match(e.why, /Next export allowed 2026-03-31T12:00:00Z\.$/);
});

test('missing counters make the words less specific, never wrong', () => {
  for (const rule of [...RULES, ...SAFEGUARDS]) {
    const e = explainIncident(incident(rule, { counters: {}, subject: {} }));
    for (const field of ['title', 'what', 'why', 'fix'] as const) {
      assert.ok(e[field].length > 10, `${rule}.${field}`);
      assert.doesNotMatch(e[field], /undefined|NaN| {2}/, `${rule}.${field}: ${e[field]}`);
    }
  }
});

test('a rule this version does not know still gets an answer', () => {
  const e = explainIncident(incident('future-rule' as Incident['rule'], { counters: { x: 1 } }));
  assert.match(e.what, /future-rule/);
  assert.match(e.why, /x 1/);
});

test('a full listing refused by its route rate is explained as batch work, with the filter to add', () => {
  const e = explainIncident(
    incident('route-rate', {
      counters: {
        route: 'full-listing',
        account: 'acme',
        routeRate: 30,
        periodSec: 60,
        routeClass: 'batch',
        incremental: 'modifiedAfter',
      },
    }),
  );
  assert.match(
    e.why,
    /full-listing route is batch work \(a full listing: no modifiedAfter filter\)/,
  );
  assert.match(e.why, /allows 30 requests per minute per account/);
  assert.doesNotMatch(e.why, /costs more/, 'a full listing costs 1: it is not an expensive call');
  assert.match(e.fix, /add modifiedAfter=<the time of your last sync>/);
  assert.doesNotMatch(`${e.why} ${e.fix}`, /modifiedAt\b/);
});

test('a route with a rate of its own is explained without claiming it costs more', () => {
  const e = explainIncident(incident('route-rate'));
  assert.match(e.why, /The search route has a rate of its own: it allows 30 requests per minute/);
  assert.doesNotMatch(e.why, /costs more/);
  assert.match(e.fix, /Call search less often \(at most 30 per minute\)/);
});

test("a refused export suggests the policy's own incremental filter", () => {
  const e = explainIncident(
    incident('bulk-export', {
      counters: { ...SAMPLE['bulk-export'], incremental: 'modifiedAfter' },
    }),
  );
  assert.match(e.fix, /\(the modifiedAfter filter of the list endpoints\)/);
  assert.doesNotMatch(e.fix, /modifiedAt\b/);
});

test('ip-blocked and key refusals name who acted, from the stored actor', () => {
  const why = (rule: Incident['rule'], counters: Record<string, string>) =>
    explainIncident(incident(rule, { counters: { ...SAMPLE[rule], ...counters } })).why;
  assert.equal(
    why('ip-blocked', { by: 'cli:alice', reason: 'test' }),
    'An operator (alice) with the sluice CLI blocked this address (test) until 2026-03-02T12:00:00.000Z. No safeguard was involved.',
  );
  assert.match(
    why('ip-blocked', { by: 'admin:dana' }),
    /^An operator \(dana\) through the admin API blocked this address/,
  );
  assert.equal(
    why('ip-blocked', { by: 'sluice', earnedByKey: 'K1' }),
    "A safeguard blocked this address (RL-ZZ99-YY88) until 2026-03-02T12:00:00.000Z after API key K1 kept sending requests that were refused; the block refuses that key's account and requests without a valid key from this address, not other accounts' keys.",
  );
  assert.match(
    why('ip-blocked', { by: 'sluice' }),
    /after it kept sending requests that were refused\.$/,
  );
  // Incidents stored before the actor was recorded: no guess at who it was.
  assert.equal(
    why('ip-blocked', {}),
    'This address was blocked (RL-ZZ99-YY88) until 2026-03-02T12:00:00.000Z.',
  );
  assert.match(why('key-suspended', { by: 'sluice' }), /^The key was suspended by a safeguard \(/);
  assert.match(why('key-revoked', {}), /^The key was revoked \(RL-AB12-CD34\)/);
});
