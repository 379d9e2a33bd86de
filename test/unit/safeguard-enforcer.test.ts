/**
 * What the safeguard enforcer carries out, with its real parts: the safeguards of
 * src/core/safeguard on a manual clock, a MemoryRecordStore, the identity cache over it,
 * the incident recorder, the webhook notifier (its log line says what it was told),
 * prom-client metrics and a pino logger writing into an array. A twin of the safeguards,
 * fed the same observations, says which action each test expects.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manualClock } from '../../src/core/clock.ts';
import type { SafeguardPolicy, SafeguardRule } from '../../src/core/policy/types.ts';
import type { ApiKeyRecord, AuditEntry, IpBlock, Subject } from '../../src/core/records.ts';
import {
  type Action,
  createSafeguards,
  MemoryTally,
  type ObservationKind,
} from '../../src/core/safeguard/index.ts';
import { createIdentityCache } from '../../src/gateway/identity-cache.ts';
import { createIncidentRecorder } from '../../src/gateway/incident-recorder.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import { createMetrics } from '../../src/gateway/metrics.ts';
import { createSafeguardEnforcer } from '../../src/gateway/safeguard-enforcer.ts';
import { createWebhookNotifier } from '../../src/notify/index.ts';
import { MemoryRecordStore } from '../../src/store/memory-record-store.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
const T0 = Date.UTC(2026, 0, 5, 12);
const KEY_ID = '7KQ4M9XT2B';
const IP = '203.0.113.9';

function rule(over: Partial<SafeguardRule> = {}): SafeguardRule {
  return {
    enabled: true,
    dryRun: false,
    threshold: 2,
    windowMs: 60_000,
    action: 'suspend',
    durationsMs: [HOUR, DAY],
    revokeAfter: undefined,
    ...over,
  };
}

function policy(over: Partial<SafeguardPolicy> = {}): SafeguardPolicy {
  return {
    afterAuthFailure: rule({ action: 'block-ip' }),
    ignoring429: rule(),
    malformedStorm: rule({ dryRun: true }),
    nonPublicAutomation: rule({ action: 'revoke', durationsMs: [] }),
    ...over,
  };
}

function key(over: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    id: KEY_ID,
    accountId: 'acme',
    hash: 'ab'.repeat(32),
    status: 'active',
    suspendedUntil: undefined,
    createdAt: T0 - DAY,
    updatedAt: T0 - DAY,
    reason: undefined,
    ...over,
  };
}

async function harness(
  t: { after(fn: () => unknown): void },
  options: {
    policy?: SafeguardPolicy;
    store?: MemoryRecordStore;
    shadowed?: (subject: Subject) => boolean;
    failingTally?: boolean;
  } = {},
) {
  const clock = manualClock(T0);
  const store = options.store ?? new MemoryRecordStore();
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: 'debug',
    destination: { write: (line: string) => lines.push(JSON.parse(line)) },
  });
  const metrics = createMetrics({ defaults: false });
  const identities = await createIdentityCache(store, { pollMs: 60_000, now: () => clock.now() });
  const incidents = createIncidentRecorder({
    store,
    clock,
    flushMs: 3_600_000,
    onError: (error) => assert.fail(String(error)),
  });
  const notifier = createWebhookNotifier({ webhooks: [], clock, logger });
  const pol = options.policy ?? policy();
  const tally = options.failingTally
    ? Object.assign(new MemoryTally({ maxSubjects: 100, maxOffenders: 100 }), {
        add: () => Promise.reject(new Error('tally away')),
      })
    : undefined;
  const safeguards = createSafeguards({ policy: pol, clock, toldNoGraceMs: 0, tally });
  const twin = createSafeguards({ policy: pol, clock, toldNoGraceMs: 0 });
  const enforcer = createSafeguardEnforcer({
    safeguards,
    recordStore: store,
    identities,
    incidents,
    notifier,
    metrics,
    logger,
    clock,
    ...(options.shadowed === undefined ? {} : { shadowed: options.shadowed }),
  });
  t.after(async () => {
    identities.close();
    await incidents.close();
    notifier.close();
  });
  /** Observes `n` times, 10 ms apart; returns the twin's actions (what the enforcer got). */
  const observe = async (n: number, kind: ObservationKind, subject: Subject) => {
    const actions: Action[] = [];
    for (let i = 0; i < n; i++) {
      enforcer.observe(kind, subject);
      actions.push(...(twin.observe(kind, subject) as Action[]));
      clock.advance(10);
    }
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    await incidents.flush();
    return actions;
  };
  const counted = async () =>
    (await metrics.safeguardActions.get()).values.map((v) => ({ ...v.labels, value: v.value }));
  const line = (msg: string) => lines.filter((l) => l.msg === msg);
  const errors = () => lines.filter((l) => l.level === 50);
  return { clock, store, identities, lines, observe, counted, line, errors };
}

test('a block earned by a key: stored and cached with its end, audited by sluice, an incident, a metric, a log line and a notice; ended blocks a week old pruned', async (t) => {
  const store = new MemoryRecordStore();
  const ended = (ip: string, until: number): IpBlock => ({
    ip,
    until,
    createdAt: until - HOUR,
    reason: 'old',
    reference: undefined,
    actor: 'sluice',
  });
  store.putIpBlock(ended('192.0.2.1', T0 - WEEK - 1));
  // Exactly a week ago, and an hour ago: both still listed.
  store.putIpBlock(ended('192.0.2.2', T0 - WEEK + 10));
  store.putIpBlock(ended('192.0.2.3', T0 - HOUR));
  const h = await harness(t, { store });
  const observed = { keyId: KEY_ID, accountId: 'acme', ip: IP };
  const [action] = await h.observe(2, 'auth-failure', observed);
  assert.equal(action.kind, 'block-ip');
  assert.equal(action.at, T0 + 10);
  const until = T0 + 10 + HOUR;
  assert.equal(action.until, until);

  const audit = store.listAudit();
  assert.equal(audit.length, 1);
  const reference = audit[0].reference;
  assert.match(reference ?? '', /^[A-Z]{2}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
  assert.deepEqual(audit, [
    {
      at: action.at,
      actor: 'sluice',
      action: 'block-ip',
      subject: { ip: IP },
      reason: action.reason,
      reference,
    },
  ] satisfies AuditEntry[]);

  const block: IpBlock = {
    ip: IP,
    until,
    createdAt: action.at,
    reason: action.reason,
    reference,
    actor: 'sluice',
    earnedBy: { keyId: KEY_ID, accountId: 'acme' },
  };
  assert.deepEqual(
    store.listIpBlocks().map((b) => b.ip),
    ['192.0.2.2', '192.0.2.3', IP],
  );
  assert.deepEqual(
    store.listIpBlocks().find((b) => b.ip === IP),
    block,
  );
  assert.deepEqual(h.identities.ipBlock(IP), block);

  const incident = store.getIncident(reference ?? '');
  assert.equal(incident?.rule, 'safeguard-auth-failure');
  assert.deepEqual(incident?.subject, observed);
  assert.equal(incident?.note, action.reason);
  assert.deepEqual(incident?.counters, {
    ...action.counters,
    action: 'block-ip',
    dryRun: 'no',
    until: new Date(until).toISOString(),
  });

  assert.deepEqual(await h.counted(), [
    { rule: 'safeguard-auth-failure', action: 'block-ip', dry_run: 'false', value: 1 },
  ]);
  const [warned] = h.line('safeguard: block-ip');
  assert.deepEqual(
    { ...warned, time: undefined },
    {
      level: 40,
      time: undefined,
      name: 'sluice',
      event: 'safeguard',
      rule: 'safeguard-auth-failure',
      action: 'block-ip',
      dryRun: false,
      reference,
      until: new Date(until).toISOString(),
      ip: IP,
      msg: 'safeguard: block-ip',
    },
  );
  const notices = h.line('sluice block');
  assert.equal(notices.length, 1);
  assert.equal(notices[0].reference, reference);
  assert.deepEqual(notices[0].subject, observed);
  assert.equal(notices[0].rule, 'safeguard-auth-failure');
  assert.equal(notices[0].detail, action.reason);
  assert.deepEqual(h.errors(), []);
});

test('a block earns who caused it: the key alone when it has no account, nobody without a key', async (t) => {
  for (const [observed, earnedBy] of [
    [{ keyId: KEY_ID, ip: IP }, { keyId: KEY_ID }],
    [{ ip: IP }, undefined],
  ] as const) {
    const h = await harness(t);
    await h.observe(2, 'auth-failure', observed);
    const [block] = h.store.listIpBlocks();
    assert.deepEqual(block.earnedBy, earnedBy);
    assert.equal('earnedBy' in block, earnedBy !== undefined, JSON.stringify(observed));
    assert.equal(block.actor, 'sluice');
    assert.equal(h.line('sluice block').length, 1);
    assert.deepEqual(h.errors(), []);
  }
});

test('a suspension: the key suspended until its end in the store and the cache, audited once by sluice, its incident, a notice', async (t) => {
  const store = new MemoryRecordStore();
  store.putKey(key());
  const h = await harness(t, { store });
  const observed = { keyId: KEY_ID, accountId: 'acme', ip: IP };
  const [action] = await h.observe(2, 'rejected-429', observed);
  assert.equal(action.kind, 'suspend');
  const until = T0 + 10 + HOUR;
  assert.equal(action.until, until);
  const [entry] = store.listAudit();
  const reference = entry.reference;
  assert.deepEqual(store.listAudit(), [
    {
      at: action.at,
      actor: 'sluice',
      action: 'key-suspend',
      subject: { accountId: 'acme', keyId: KEY_ID },
      reason: action.reason,
      reference,
    },
  ]);
  const suspended = {
    ...key(),
    status: 'suspended',
    suspendedUntil: until,
    updatedAt: action.at,
    statusBy: 'sluice',
    reason: `${reference}: ${action.reason}`,
  };
  assert.deepEqual(store.getKey(KEY_ID), suspended);
  assert.deepEqual(h.identities.byHash(key().hash), suspended);
  assert.deepEqual(store.listIpBlocks(), []);
  assert.deepEqual(store.getIncident(reference ?? '')?.counters, {
    ...action.counters,
    action: 'suspend',
    dryRun: 'no',
    until: new Date(until).toISOString(),
  });
  assert.equal(h.line('safeguard: suspend')[0].until, new Date(until).toISOString());
  assert.deepEqual(await h.counted(), [
    { rule: 'safeguard-ignoring-429', action: 'suspend', dry_run: 'false', value: 1 },
  ]);
  const notices = h.line('sluice suspension');
  assert.equal(notices.length, 1);
  assert.equal(notices[0].reference, reference);
  assert.deepEqual(h.errors(), []);
});

test('a revocation has no end: none in its facts or log line; the key revoked, a notice', async (t) => {
  const store = new MemoryRecordStore();
  store.putKey(key());
  const h = await harness(t, { store });
  const [action] = await h.observe(2, 'non-public-attempt', { keyId: KEY_ID, accountId: 'acme' });
  assert.equal(action.kind, 'revoke');
  assert.equal(action.until, undefined);
  const [entry] = store.listAudit();
  assert.equal(entry.action, 'key-revoke');
  assert.equal(entry.actor, 'sluice');
  assert.equal(store.getKey(KEY_ID)?.status, 'revoked');
  assert.equal(store.getKey(KEY_ID)?.statusBy, 'sluice');
  const counters = store.getIncident(entry.reference ?? '')?.counters ?? {};
  assert.deepEqual(counters, { ...action.counters, action: 'revoke', dryRun: 'no' });
  assert.equal('until' in counters, false);
  const [warned] = h.line('safeguard: revoke');
  assert.equal(warned.until, undefined);
  assert.equal(warned.keyId, KEY_ID);
  assert.equal(h.line('sluice revocation').length, 1);
  assert.deepEqual(h.errors(), []);
});

test('an action that changes no key sends no notice: the key already revoked, or unknown', async (t) => {
  for (const stored of [key({ status: 'revoked' }), undefined]) {
    const store = new MemoryRecordStore();
    if (stored !== undefined) store.putKey(stored);
    const h = await harness(t, { store });
    const [action] = await h.observe(2, 'rejected-429', { keyId: KEY_ID, accountId: 'acme' });
    assert.equal(action.kind, 'suspend');
    // Recorded and counted all the same.
    assert.equal(h.line('safeguard: suspend').length, 1);
    assert.equal(store.listIncidents().length, 1);
    assert.deepEqual(store.listAudit(), []);
    assert.deepEqual(store.getKey(KEY_ID), stored);
    assert.deepEqual(h.line('sluice suspension'), []);
    assert.deepEqual(h.errors(), []);
  }
});

test('a dry run changes nothing: no key change, no block, no pruning, no notice; its audit entry, incident, metric and log line say dry run', async (t) => {
  const store = new MemoryRecordStore();
  store.putKey(key());
  const old: IpBlock = {
    ip: '192.0.2.1',
    until: T0 - 2 * WEEK,
    createdAt: T0 - 3 * WEEK,
    reason: 'old',
    reference: undefined,
    actor: 'sluice',
  };
  store.putIpBlock(old);
  const h = await harness(t, {
    store,
    policy: policy({ afterAuthFailure: rule({ action: 'block-ip', dryRun: true }) }),
  });
  const [suspend] = await h.observe(2, 'malformed-4xx', { keyId: KEY_ID, accountId: 'acme' });
  const [block] = await h.observe(2, 'auth-failure', { ip: IP });
  assert.equal(suspend.dryRun, true);
  assert.equal(block.dryRun, true);
  assert.deepEqual(store.getKey(KEY_ID), key());
  assert.deepEqual(h.identities.byHash(key().hash), key());
  assert.deepEqual(store.listIpBlocks(), [old]);
  assert.equal(h.identities.ipBlock(IP), undefined);
  // Newest first.
  const audit = store.listAudit().reverse();
  assert.deepEqual(
    audit.map((e) => [e.actor, e.action, e.subject, e.reason]),
    [
      ['sluice', 'dry-run key-suspend', { keyId: KEY_ID, accountId: 'acme' }, suspend.reason],
      ['sluice', 'dry-run block-ip', { ip: IP }, block.reason],
    ],
  );
  const incident = store.getIncident(audit[0].reference ?? '');
  assert.equal(incident?.note, `dry run: ${suspend.reason}`);
  assert.equal(incident?.counters.dryRun, 'yes');
  assert.deepEqual(
    (await h.counted()).sort((a, b) => String(a.rule).localeCompare(String(b.rule))),
    [
      { rule: 'safeguard-auth-failure', action: 'block-ip', dry_run: 'true', value: 1 },
      { rule: 'safeguard-malformed-storm', action: 'suspend', dry_run: 'true', value: 1 },
    ],
  );
  const [would] = h.line('safeguard would suspend (dry run)');
  assert.equal(would.dryRun, true);
  assert.equal(would.reference, audit[0].reference);
  assert.equal(h.line('safeguard would block-ip (dry run)').length, 1);
  assert.deepEqual(
    h.lines.filter((l) => String(l.msg).startsWith('sluice ')),
    [],
  );
  assert.deepEqual(h.errors(), []);
});

test('a subject in shadow mode: its real action becomes a dry run; out of shadow mode it is carried out', async (t) => {
  for (const shadow of [true, false]) {
    const store = new MemoryRecordStore();
    store.putKey(key());
    const asked: Subject[] = [];
    const h = await harness(t, {
      store,
      shadowed: (subject) => {
        asked.push(subject);
        return shadow;
      },
    });
    const observed = { keyId: KEY_ID, accountId: 'acme', ip: IP };
    const [action] = await h.observe(2, 'rejected-429', observed);
    assert.equal(action.dryRun, false);
    assert.deepEqual(asked, [observed]);
    assert.equal(store.getKey(KEY_ID)?.status, shadow ? 'active' : 'suspended');
    assert.deepEqual(
      store.listAudit().map((e) => e.action),
      [shadow ? 'dry-run key-suspend' : 'key-suspend'],
    );
    const reference = store.listAudit()[0].reference ?? '';
    assert.equal(store.getIncident(reference)?.counters.dryRun, shadow ? 'yes' : 'no');
    assert.equal(h.line('sluice suspension').length, shadow ? 0 : 1);
    assert.deepEqual(h.errors(), []);
  }
});

test('a store that fails an action is logged with the rule; counting that fails is logged; neither throws', async (t) => {
  class AuditAway extends MemoryRecordStore {
    override appendAudit(_entry: AuditEntry): void {
      throw new Error('audit away');
    }
  }
  const store = new AuditAway();
  const h = await harness(t, { store });
  await h.observe(2, 'auth-failure', { ip: IP });
  // The incident and the metric come first.
  assert.equal(store.listIncidents().length, 1);
  assert.equal((await h.counted()).length, 1);
  const failed = h.line('carrying out a safeguard action failed');
  assert.equal(failed.length, 1);
  assert.equal(failed[0].rule, 'safeguard-auth-failure');
  assert.equal((failed[0].err as { message: string }).message, 'audit away');
  assert.deepEqual(store.listIpBlocks(), []);

  const away = await harness(t, { failingTally: true });
  await away.observe(1, 'auth-failure', { ip: IP });
  const lost = away.line('counting a safeguard observation failed');
  assert.equal(lost.length, 1);
  assert.equal(lost[0].level, 50);
  assert.equal((lost[0].err as { message: string }).message, 'tally away');
});
