import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manualClock } from '../../src/core/clock.ts';
import type { SafeguardPolicy, SafeguardRule } from '../../src/core/policy/types.ts';
import type { Subject } from '../../src/core/records.ts';
import { createSafeguards } from '../../src/core/safeguard/observer.ts';
import type { ObservationKind } from '../../src/core/safeguard/types.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
const T0 = Date.UTC(2026, 0, 1);

function rule(over: Partial<SafeguardRule> = {}): SafeguardRule {
  return {
    enabled: true,
    dryRun: false,
    threshold: 5,
    windowMs: MINUTE,
    action: 'suspend',
    durationsMs: [HOUR, DAY, WEEK],
    revokeAfter: undefined,
    ...over,
  };
}

function policy(over: Partial<SafeguardPolicy> = {}): SafeguardPolicy {
  return {
    afterAuthFailure: rule({ action: 'block-ip', threshold: 5 }),
    ignoring429: rule({ threshold: 5 }),
    malformedStorm: rule({ threshold: 4 }),
    nonPublicAutomation: rule({ action: 'revoke', threshold: 3, durationsMs: [] }),
    ...over,
  };
}

/**
 * Without the grace (`toldNoGraceMs: 0`) every 429 counts, so these tests exercise the
 * counting itself; the grace has its own tests below.
 */
function setup(over: Partial<SafeguardPolicy> = {}, options = {}) {
  const clock = manualClock(T0);
  const sg = createSafeguards({ policy: policy(over), clock, toldNoGraceMs: 0, ...options });
  /** Observes `n` times, 10 ms apart; returns every action. */
  const many = (n: number, kind: ObservationKind, subject: Subject) => {
    const actions = [];
    for (let i = 0; i < n; i++) {
      actions.push(...sg.observe(kind, subject));
      clock.advance(10);
    }
    return actions;
  };
  return { clock, sg, many };
}

const KEY = { keyId: 'k1', accountId: 'a1', ip: '203.0.113.9' };
const IP_ONLY = { ip: '198.51.100.7' };

test('each rule fires exactly at its threshold, not one before, on the right subject', () => {
  const cases: [ObservationKind, number, string, string, Subject][] = [
    ['auth-failure', 5, 'safeguard-auth-failure', 'block-ip', { ip: KEY.ip }],
    ['rejected-429', 5, 'safeguard-ignoring-429', 'suspend', { keyId: 'k1', accountId: 'a1' }],
    ['malformed-4xx', 4, 'safeguard-malformed-storm', 'suspend', { keyId: 'k1', accountId: 'a1' }],
    ['non-public-attempt', 3, 'safeguard-non-public', 'revoke', { keyId: 'k1', accountId: 'a1' }],
  ];
  for (const [kind, threshold, ruleId, action, subject] of cases) {
    const { sg, many } = setup();
    assert.deepEqual(many(threshold - 1, kind, KEY), [], `${kind}: nothing before the threshold`);
    const fired = sg.observe(kind, KEY);
    assert.equal(fired.length, 1, kind);
    const a = fired[0];
    assert.equal(a.rule, ruleId);
    assert.equal(a.kind, action);
    assert.deepEqual(a.subject, subject);
    assert.deepEqual(a.observed, KEY);
    assert.equal(a.offence, 1);
    assert.equal(a.dryRun, false);
    assert.equal(a.counters.observations, threshold);
    assert.equal(a.counters.threshold, threshold);
  }
});

test('a flood fires one action, not one per request (the count resets and the subject serves it)', () => {
  const { clock, sg, many } = setup();
  const actions = many(1_000, 'rejected-429', KEY);
  assert.equal(actions.length, 1);
  assert.equal(actions[0].durationMs, HOUR);
  assert.equal(actions[0].at, T0 + 4 * 10);
  assert.equal(actions[0].until, T0 + 40 + HOUR);
  // After the suspension: counting starts from zero again.
  clock.set(T0 + 40 + HOUR);
  assert.deepEqual(many(4, 'rejected-429', KEY), []);
  assert.equal(sg.observe('rejected-429', KEY)[0].offence, 2);
});

test('a revoke rule fires again at every new crossing (nothing to serve), offence counting up', () => {
  const { many } = setup();
  const actions = many(9, 'non-public-attempt', KEY);
  assert.deepEqual(
    actions.map((a) => [a.kind, a.offence, a.durationMs, a.until]),
    [
      ['revoke', 1, undefined, undefined],
      ['revoke', 2, undefined, undefined],
      ['revoke', 3, undefined, undefined],
    ],
  );
});

test('escalation: 1 hour → 1 day → 1 week, and 1 week after that', () => {
  const { clock, sg, many } = setup();
  const durations = [];
  for (let i = 0; i < 5; i++) {
    const [a] = many(5, 'rejected-429', KEY);
    assert.equal(a.kind, 'suspend');
    assert.equal(a.offence, i + 1);
    durations.push(a.durationMs);
    clock.set(a.until!);
  }
  assert.deepEqual(durations, [HOUR, DAY, WEEK, WEEK, WEEK]);
  assert.equal(sg.size().offenders, 1);
});

test('revokeAfter 3: suspended twice, revoked at the third offence and after', () => {
  const { clock, many } = setup({ ignoring429: rule({ revokeAfter: 3 }) });
  const seen = [];
  for (let i = 0; i < 4; i++) {
    const [a] = many(5, 'rejected-429', KEY);
    seen.push([a.kind, a.durationMs]);
    if (a.until !== undefined) clock.set(a.until);
  }
  assert.deepEqual(seen, [
    ['suspend', HOUR],
    ['suspend', DAY],
    ['revoke', undefined],
    ['revoke', undefined],
  ]);
});

test('without a key, a key rule blocks the IP, and IP blocks never turn into revocations', () => {
  const { clock, many } = setup({ ignoring429: rule({ revokeAfter: 2 }) });
  const seen = [];
  for (let i = 0; i < 3; i++) {
    const [a] = many(5, 'rejected-429', IP_ONLY);
    assert.deepEqual(a.subject, IP_ONLY);
    seen.push([a.kind, a.durationMs]);
    clock.set(a.until!);
  }
  assert.deepEqual(seen, [
    ['block-ip', HOUR],
    ['block-ip', DAY],
    ['block-ip', WEEK],
  ]);
});

test('the window slides: observations older than the window do not count', () => {
  const { clock, sg, many } = setup();
  // Four at T0 (aligned to a bucket), then one a full window later: no action.
  for (let i = 0; i < 4; i++) sg.observe('rejected-429', KEY);
  clock.set(T0 + MINUTE);
  assert.deepEqual(sg.observe('rejected-429', KEY), []);
  // Three more: 1 + 3 = 4 inside the window, still none; the fifth fires.
  assert.deepEqual(many(3, 'rejected-429', KEY), []);
  assert.equal(sg.observe('rejected-429', KEY).length, 1);
});

test('observations just inside the window count', () => {
  const { clock, sg } = setup();
  for (let i = 0; i < 4; i++) sg.observe('rejected-429', KEY);
  clock.set(T0 + MINUTE - 1);
  assert.equal(sg.observe('rejected-429', KEY).length, 1);
});

test('an observation never counts once older than the window, whatever its place in a bucket', () => {
  const { clock, sg } = setup();
  clock.set(T0 + 1_999); // the last millisecond of a 2-second bucket
  for (let i = 0; i < 4; i++) sg.observe('rejected-429', KEY);
  clock.set(T0 + 1_999 + MINUTE);
  assert.deepEqual(sg.observe('rejected-429', KEY), []);
});

test('dry run: the action says so, escalates as if real, and blocks nothing', () => {
  const { clock, sg, many } = setup({
    afterAuthFailure: rule({ action: 'block-ip', dryRun: true }),
  });
  const [first] = many(5, 'auth-failure', KEY);
  assert.equal(first.dryRun, true);
  assert.equal(first.kind, 'block-ip');
  assert.equal(
    first.reason,
    '5 requests refused as unauthorised (401/403, or a revoked or suspended key) within 1 minute ' +
      '(threshold 5); 1st offence of IP 203.0.113.9, so it would be blocked for 1 hour ' +
      '(dry run: nothing was done)',
  );
  assert.equal(sg.ipBlockedUntil(KEY.ip), undefined);
  // As if real: quiet for the hour the block would last, then the second offence is a day.
  assert.deepEqual(many(50, 'auth-failure', KEY), []);
  clock.set(first.until!);
  const [second] = many(5, 'auth-failure', KEY);
  assert.equal(second.offence, 2);
  assert.equal(second.durationMs, DAY);
});

test('a real IP block is reported by ipBlockedUntil until it ends', () => {
  const { clock, sg, many } = setup();
  const [a] = many(5, 'auth-failure', KEY);
  assert.equal(sg.ipBlockedUntil(KEY.ip), a.until);
  assert.equal(sg.ipBlockedUntil('192.0.2.1'), undefined);
  clock.set(a.until!);
  assert.equal(sg.ipBlockedUntil(KEY.ip), undefined);
});

test('the reason states the counts and the consequence in plain words', () => {
  const { many } = setup();
  const [a] = many(5, 'rejected-429', KEY);
  assert.equal(
    a.reason,
    '5 requests answered 429 within 1 minute (threshold 5); 1st offence of key k1, so it is suspended for 1 hour',
  );
  assert.deepEqual(a.counters, {
    observations: 5,
    threshold: 5,
    windowMs: MINUTE,
    offence: 1,
    durationMs: HOUR,
  });
});

test('offence history is forgotten after historyMs without offences', () => {
  const { clock, many } = setup({}, { historyMs: 10 * DAY });
  const [first] = many(5, 'rejected-429', KEY);
  // Just inside the history (the crossing comes 40 ms after this): remembered.
  clock.set(first.at + 10 * DAY - 100);
  const [second] = many(5, 'rejected-429', KEY);
  assert.equal(second.offence, 2);
  assert.equal(second.durationMs, DAY);
  // Ten days after the second offence (its day served): forgotten, first step again.
  clock.set(second.at + 10 * DAY);
  const [third] = many(5, 'rejected-429', KEY);
  assert.equal(third.offence, 1);
  assert.equal(third.durationMs, HOUR);
});

test('subjects and rules are independent', () => {
  const { sg, many } = setup();
  const other = { keyId: 'k2', accountId: 'a1', ip: KEY.ip };
  assert.deepEqual(many(4, 'rejected-429', KEY), []);
  assert.deepEqual(many(4, 'rejected-429', other), []);
  // Another rule for the same key counts separately.
  assert.deepEqual(many(3, 'malformed-4xx', KEY), []);
  assert.equal(sg.observe('rejected-429', KEY)[0].subject.keyId, 'k1');
  assert.equal(sg.observe('rejected-429', other)[0].subject.keyId, 'k2');
  // k1's offence does not raise k2's, nor the malformed rule's.
  assert.equal(sg.observe('malformed-4xx', KEY)[0].offence, 1);
});

test('disabled rules do nothing; setPolicy applies new thresholds and restarts changed windows', () => {
  const { sg, many } = setup({ ignoring429: rule({ enabled: false }) });
  assert.deepEqual(many(100, 'rejected-429', KEY), []);
  assert.equal(sg.size().subjects, 0);

  sg.setPolicy(policy({ ignoring429: rule({ threshold: 3 }) }));
  assert.deepEqual(many(2, 'rejected-429', KEY), []);
  // A new window drops the count (2 so far): three more are needed.
  sg.setPolicy(policy({ ignoring429: rule({ threshold: 3, windowMs: 2 * MINUTE }) }));
  assert.deepEqual(many(2, 'rejected-429', KEY), []);
  assert.equal(sg.observe('rejected-429', KEY)[0].counters.windowMs, 2 * MINUTE);
});

test('forgive lifts what is being served; with offences, history starts over', () => {
  const { sg, many } = setup();
  const [a] = many(5, 'auth-failure', KEY);
  assert.equal(sg.ipBlockedUntil(KEY.ip), a.until);
  sg.forgive({ ip: KEY.ip });
  assert.equal(sg.ipBlockedUntil(KEY.ip), undefined);
  assert.equal(many(5, 'auth-failure', KEY)[0].offence, 2);
  sg.forgive({ ip: KEY.ip }, { offences: true });
  assert.equal(many(5, 'auth-failure', KEY)[0].offence, 1);
});

test('memory stays bounded under a flood of distinct IPs', () => {
  const { clock, sg } = setup({}, { maxSubjects: 100, maxOffenders: 10 });
  for (let i = 0; i < 20_000; i++) {
    sg.observe('auth-failure', { ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` });
  }
  assert.equal(sg.size().subjects, 100);
  // The survivors are the most recent: the last IP still counts towards its threshold.
  const last = { ip: '10.0.78.31' }; // i = 19_999
  for (let i = 0; i < 3; i++) assert.deepEqual(sg.observe('auth-failure', last), []);
  assert.equal(sg.observe('auth-failure', last).length, 1);

  // Idle subjects go when the window has passed.
  clock.advance(MINUTE);
  sg.observe('auth-failure', { ip: '192.0.2.1' });
  assert.equal(sg.size().subjects, 1);

  // Offenders are capped too.
  const burst = createSafeguards({
    policy: policy({ afterAuthFailure: rule({ action: 'block-ip', threshold: 1 }) }),
    clock,
    maxOffenders: 10,
  });
  for (let i = 0; i < 1_000; i++)
    burst.observe('auth-failure', { ip: `10.1.${i >> 8}.${i & 255}` });
  assert.equal(burst.size().offenders, 10);
});

test('an observation with neither key nor IP is ignored', () => {
  const { sg, many } = setup();
  assert.deepEqual(many(50, 'rejected-429', { accountId: 'a1' }), []);
  assert.deepEqual(many(50, 'auth-failure', { keyId: 'k1' }), []);
  assert.deepEqual(sg.size(), { subjects: 0, offenders: 0 });
});

test('ignoring429: a burst sent before any 429 came back is never counted, however much is refused', () => {
  const { clock, sg } = setup({ ignoring429: rule({ threshold: 10 }) }, { toldNoGraceMs: 1_000 });
  // 30 requests arrive at T0; the limiter refuses 20 of them, answered over the next 500 ms.
  for (let i = 0; i < 20; i++) {
    assert.deepEqual(sg.observe('rejected-429', KEY, T0), [], `refusal ${i + 1} of the burst`);
    clock.advance(25);
  }
  // Requests that left within the grace of the first 429 were in flight: not counted either.
  clock.set(T0 + 999);
  assert.deepEqual(sg.observe('rejected-429', KEY), []);
  // From the grace on, the client has been told no: 10 more refusals reach the threshold.
  clock.set(T0 + 1_000);
  for (let i = 0; i < 9; i++) {
    assert.deepEqual(sg.observe('rejected-429', KEY), [], `counted refusal ${i + 1}`);
    clock.advance(10);
  }
  const [a] = sg.observe('rejected-429', KEY);
  assert.equal(a.kind, 'suspend');
  assert.equal(a.counters.observations, 10);
});

test('ignoring429: a request refused after the grace but sent before it does not count', () => {
  const { clock, sg } = setup({ ignoring429: rule({ threshold: 2 }) }, { toldNoGraceMs: 1_000 });
  sg.observe('rejected-429', KEY, T0);
  clock.set(T0 + 5_000);
  // Held (delayed or queued) from T0 + 500 and refused only now.
  assert.deepEqual(sg.observe('rejected-429', KEY, T0 + 500), []);
  assert.deepEqual(sg.observe('rejected-429', KEY, T0 + 500), []);
  assert.deepEqual(sg.observe('rejected-429', KEY), []);
  assert.equal(sg.observe('rejected-429', KEY).length, 1);
});

test('ignoring429: after a window without 429s, the next burst is again a burst', () => {
  const { clock, sg } = setup({ ignoring429: rule({ threshold: 3 }) }, { toldNoGraceMs: 1_000 });
  sg.observe('rejected-429', KEY);
  clock.advance(2_000);
  assert.deepEqual(sg.observe('rejected-429', KEY), []); // told no: counted (1 of 3)
  clock.advance(MINUTE);
  // A minute of quiet: a new burst, refused at once, counts nothing.
  const at = clock.now();
  for (let i = 0; i < 10; i++) assert.deepEqual(sg.observe('rejected-429', KEY, at), []);
});

test('one rule, a key and an IP: each serves its own quiet time (a revocation none, a block its hour)', () => {
  // revokeAfter 1: a key is revoked at once (nothing to serve, counting goes on), an IP
  // without a key is blocked for an hour (ignored meanwhile). The quiet times are kept
  // per rule and per kind of subject: one kind must never get the other's.
  for (const ipFirst of [true, false]) {
    const { many } = setup({ ignoring429: rule({ revokeAfter: 1, durationsMs: [HOUR] }) });
    const ip = () => many(5, 'rejected-429', IP_ONLY).map((a) => [a.kind, a.offence]);
    const key = () => many(5, 'rejected-429', KEY).map((a) => [a.kind, a.offence]);
    if (ipFirst) assert.deepEqual(ip(), [['block-ip', 1]]);
    assert.deepEqual(key(), [['revoke', 1]]);
    assert.deepEqual(key(), [['revoke', 2]], 'a revoked key has nothing to serve');
    if (!ipFirst) assert.deepEqual(ip(), [['block-ip', 1]]);
    assert.deepEqual(ip(), [], 'a blocked IP is ignored for its hour');
  }
});

test('a reload with new durations: the next offence serves the new quiet time', () => {
  const { clock, sg, many } = setup();
  assert.equal(many(5, 'rejected-429', KEY)[0].durationMs, HOUR);
  clock.advance(HOUR);
  sg.setPolicy(policy({ ignoring429: rule({ durationsMs: [MINUTE, 2 * MINUTE] }) }));
  const [second] = many(5, 'rejected-429', KEY);
  assert.equal(second.durationMs, 2 * MINUTE);
  // Quiet for the new two minutes, not the old day: counted again right after.
  clock.set(second.until!);
  assert.equal(many(5, 'rejected-429', KEY)[0]?.offence, 3);
});

test('a key without an account is the subject as it is, with no account field', () => {
  const { many } = setup();
  const [a] = many(5, 'rejected-429', { keyId: 'k9', ip: '203.0.113.9' });
  assert.deepStrictEqual({ ...a.subject }, { keyId: 'k9' });
});

test('ignoring429: a client that keeps ignoring 429s stays in one run, counted past the first window', () => {
  const { clock, sg } = setup({ ignoring429: rule({ threshold: 6 }) }, { toldNoGraceMs: 1_000 });
  const fired = [];
  // One 429 every 10 s; the first starts the run (not counted), the rest were sent after
  // it: the sixth counted, a minute after the run began, reaches the threshold.
  for (let i = 0; i <= 8; i++) {
    fired.push(...sg.observe('rejected-429', KEY));
    if (fired.length === 0) clock.advance(10_000);
  }
  assert.equal(fired.length, 1);
  assert.equal(clock.now(), T0 + 60_000);
});

test('disabling a rule restarts its counts and its runs of 429s, even with the same window', () => {
  const { clock, sg, many } = setup({ ignoring429: rule({ threshold: 3 }) });
  assert.deepEqual(many(2, 'rejected-429', KEY), []);
  sg.setPolicy(policy({ ignoring429: rule({ threshold: 3, enabled: false }) }));
  sg.setPolicy(policy({ ignoring429: rule({ threshold: 3 }) }));
  assert.deepEqual(many(2, 'rejected-429', KEY), [], 'the 2 before do not count');
  assert.equal(many(1, 'rejected-429', KEY).length, 1);

  const graced = createSafeguards({
    policy: policy({ ignoring429: rule({ threshold: 1 }) }),
    clock,
    toldNoGraceMs: 1_000,
  });
  graced.observe('rejected-429', KEY); // starts a run
  clock.advance(5_000);
  graced.setPolicy(policy({ ignoring429: rule({ threshold: 1, enabled: false }) }));
  graced.setPolicy(policy({ ignoring429: rule({ threshold: 1 }) }));
  // The run was forgotten: this 429 starts a new one, within its own grace.
  assert.deepEqual(graced.observe('rejected-429', KEY), []);
});

test('forgiving a key lifts its suspension and its run of 429s; size counts the runs', () => {
  const { clock, sg, many } = setup();
  const [a] = many(5, 'rejected-429', KEY);
  assert.equal(a.kind, 'suspend');
  assert.deepEqual(many(5, 'rejected-429', KEY), [], 'serving the suspension: ignored');
  sg.forgive({ keyId: KEY.keyId });
  assert.equal(many(5, 'rejected-429', KEY)[0]?.offence, 2);

  const graced = createSafeguards({
    policy: policy({ ignoring429: rule({ threshold: 1 }) }),
    clock,
    toldNoGraceMs: 1_000,
  });
  graced.observe('rejected-429', KEY); // starts a run, not counted
  assert.deepEqual(graced.size(), { subjects: 1, offenders: 0 });
  clock.advance(5_000);
  graced.forgive({ keyId: KEY.keyId });
  assert.deepEqual(graced.size(), { subjects: 0, offenders: 0 });
  assert.deepEqual(graced.observe('rejected-429', KEY), [], 'a new run, within its grace');
});

test('after a revocation the key is not ignored: the next crossing revokes again at once', () => {
  const { clock, many } = setup({
    ignoring429: rule({ threshold: 2, durationsMs: [HOUR], revokeAfter: 2 }),
  });
  assert.equal(many(2, 'rejected-429', KEY)[0].kind, 'suspend');
  clock.advance(HOUR);
  assert.equal(many(2, 'rejected-429', KEY)[0].kind, 'revoke');
  const again = many(2, 'rejected-429', KEY);
  assert.equal(again[0]?.kind, 'revoke');
  assert.equal(again[0]?.offence, 3);
});

test('a revoke rule meeting a request without a key blocks the IP for the fallback hour', () => {
  const { clock, sg, many } = setup();
  const [a] = many(3, 'non-public-attempt', IP_ONLY);
  assert.equal(a.kind, 'block-ip');
  assert.equal(a.durationMs, HOUR);
  assert.equal(sg.ipBlockedUntil(IP_ONLY.ip), a.until);
  clock.set(a.until! - 1);
  assert.equal(sg.ipBlockedUntil(IP_ONLY.ip), a.until);
});

// Cases found by mutation testing (TESTING.md): each fails on a mutant Stryker left alive.

test('the defaults: a one-second grace after the first 429, and 30 buckets a window', () => {
  const clock = manualClock(T0);
  const sg = createSafeguards({ policy: policy({ ignoring429: rule({ threshold: 3 }) }), clock });
  sg.observe('rejected-429', KEY);
  // Inside the default grace of 1 s: in flight, not counted.
  clock.set(T0 + 999);
  assert.deepEqual(sg.observe('rejected-429', KEY), []);
  clock.set(T0 + 1_000);
  assert.deepEqual(sg.observe('rejected-429', KEY), []);
  assert.deepEqual(sg.observe('rejected-429', KEY), []);
  const [a] = sg.observe('rejected-429', KEY);
  assert.equal(a?.kind, 'suspend');
  assert.equal(a.counters.observations, 3);
  // Buckets of 2 s (a minute in 30): a count made 59 s ago is still in the window.
  const other = { keyId: 'k2', accountId: 'a2' };
  clock.set(T0 + 10 * MINUTE);
  sg.observe('rejected-429', other);
  clock.advance(1_000);
  sg.observe('rejected-429', other);
  sg.observe('rejected-429', other);
  clock.advance(MINUTE - 1_000 - 1);
  assert.equal(sg.observe('rejected-429', other).length, 1);
});

test('a reload that changes no rule keeps every count', () => {
  const { sg, many } = setup({ ignoring429: rule({ threshold: 3 }) });
  assert.deepEqual(many(2, 'rejected-429', KEY), []);
  sg.setPolicy(policy({ ignoring429: rule({ threshold: 3 }) }));
  assert.equal(many(1, 'rejected-429', KEY).length, 1);
});

test('a revocation carries no duration in its facts', () => {
  const { many } = setup();
  const [a] = many(3, 'non-public-attempt', KEY);
  assert.equal(a.kind, 'revoke');
  assert.deepStrictEqual(a.counters, {
    observations: 3,
    threshold: 3,
    windowMs: MINUTE,
    offence: 1,
  });
  assert.equal('durationMs' in a.counters, false);
});

test('by default counts slide out of the window even while the subject never goes quiet', () => {
  const clock = manualClock(T0);
  const sg = createSafeguards({ policy: policy(), clock, toldNoGraceMs: 0 });
  for (let i = 0; i < 3; i++) sg.observe('rejected-429', KEY);
  clock.set(T0 + 30_000);
  sg.observe('rejected-429', KEY);
  // The three of T0 have left the window; the one of T0 + 30 s has not: 1 + 3 = 4 of 5.
  clock.set(T0 + MINUTE + 2_000);
  assert.deepEqual(sg.observe('rejected-429', KEY), []);
  assert.deepEqual(sg.observe('rejected-429', KEY), []);
  assert.deepEqual(sg.observe('rejected-429', KEY), []);
  assert.equal(sg.observe('rejected-429', KEY).length, 1);
});
