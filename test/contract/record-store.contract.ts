/**
 * The record-store contract: every RecordStore (memory, SQLite, Redis) passes these
 * same tests, so the gateway, the CLI and the admin API can rely on one behaviour.
 *
 * Stores whose records outlive one instance (a SQLite file, Redis) also pass
 * `runSharedRecordStoreContract`: a reopened or second instance on the same place sees
 * the same records and the same change sequence.
 *
 * @example
 * runRecordStoreContract('memory', () => new MemoryRecordStore());
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MaybePromise } from '../../src/core/maybe-async.ts';
import type {
  Account,
  ApiKeyRecord,
  AuditAction,
  AuditEntry,
  Incident,
  IpBlock,
} from '../../src/core/records.ts';
import { CROCKFORD } from '../../src/core/reference.ts';
import type { RecordStore } from '../../src/store/types.ts';

const T0 = Date.UTC(2026, 2, 1, 12, 0, 0);
/** The default bulk allowance: one export per 30 days. */
const MONTH = 30 * 86_400_000;

export function key(id: string, accountId: string, over: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    id,
    accountId,
    hash: `hash-of-${id}`,
    status: 'active',
    suspendedUntil: undefined,
    createdAt: T0,
    updatedAt: T0,
    reason: undefined,
    ...over,
  };
}

export function incident(reference: string, over: Partial<Incident> = {}): Incident {
  return {
    reference,
    rule: 'ip-block',
    subject: { ip: '203.0.113.9' },
    startedAt: T0,
    endedAt: T0 + 1_000,
    count: 1,
    counters: { ipRequests: 201, ipBlock: 200 },
    note: undefined,
    ...over,
  };
}

export function ipBlock(ip: string, over: Partial<IpBlock> = {}): IpBlock {
  return {
    ip,
    until: T0 + 3_600_000,
    createdAt: T0,
    reason: 'kept sending while answered 429',
    reference: 'RL-7KQ4-M9XT',
    actor: 'sluice',
    ...over,
  };
}

function audit(at: number, action: AuditAction, keyId?: string): AuditEntry {
  return {
    at,
    actor: 'cli:alice',
    action,
    subject: keyId === undefined ? { accountId: 'acme' } : { accountId: 'acme', keyId },
    reason: `because ${action}`,
    reference: undefined,
  };
}

/** Registers the contract tests for one implementation; `newStore` gives an empty store. */
export function runRecordStoreContract(
  name: string,
  newStore: () => MaybePromise<RecordStore>,
): void {
  async function open(t: { after(fn: () => unknown): void }): Promise<RecordStore> {
    const store = await newStore();
    t.after(() => store.close());
    return store;
  }

  test(`${name}: accounts round-trip, update in place, list by id`, async (t) => {
    const store = await open(t);
    assert.equal(await store.getAccount('acme'), undefined);
    const acme: Account = { id: 'acme', size: 12, plan: 'standard', createdAt: T0 };
    await store.putAccount({ id: 'zeta', size: 0, plan: 'free', createdAt: T0 });
    await store.putAccount(acme);
    assert.deepEqual(await store.getAccount('acme'), acme);
    await store.putAccount({ ...acme, size: 40, plan: 'large' });
    assert.deepEqual(await store.getAccount('acme'), { ...acme, size: 40, plan: 'large' });
    assert.deepEqual(
      (await store.listAccounts()).map((a) => [a.id, a.size]),
      [
        ['acme', 40],
        ['zeta', 0],
      ],
    );
  });

  test(`${name}: keys are found by id and by hash, listed per account`, async (t) => {
    const store = await open(t);
    const k1 = key('KEY0000001', 'acme');
    const k2 = key('KEY0000002', 'acme', { createdAt: T0 + 5 });
    const k3 = key('KEY0000003', 'beta', {
      status: 'suspended',
      suspendedUntil: T0 + 60_000,
      reason: 'RL-7KQ4-M9XT',
    });
    for (const k of [k3, k2, k1]) await store.putKey(k);
    assert.deepEqual(await store.getKey('KEY0000003'), k3);
    assert.deepEqual(await store.findKeyByHash('hash-of-KEY0000002'), k2);
    assert.equal(await store.findKeyByHash('hash-of-nothing'), undefined);
    assert.equal(await store.getKey('NOPE'), undefined);
    assert.deepEqual(
      (await store.listKeys('acme')).map((k) => k.id),
      ['KEY0000001', 'KEY0000002'],
    );
    assert.deepEqual(
      (await store.listKeys()).map((k) => k.id),
      ['KEY0000001', 'KEY0000002', 'KEY0000003'],
    );
    assert.deepEqual(await store.listKeys('nobody'), []);
  });

  test(`${name}: importKeys writes accounts, keys (with their origin) and audit entries at once`, async (t) => {
    const store = await open(t);
    const before = await store.keyChangesSince(0);
    const acme: Account = { id: 'acme', size: 12, plan: 'standard', createdAt: T0 };
    const imported = key('KEY0000001', 'acme', { origin: 'imported' });
    await store.importKeys({
      accounts: [acme],
      keys: [imported, key('KEY0000002', 'acme', { origin: 'imported' })],
      audit: [audit(T0, 'key-import', 'KEY0000001'), audit(T0, 'key-import', 'KEY0000002')],
    });
    assert.deepEqual(await store.getAccount('acme'), acme);
    assert.deepEqual(await store.findKeyByHash('hash-of-KEY0000001'), imported);
    assert.equal((await store.getKey('KEY0000002'))?.origin, 'imported');
    assert.deepEqual(
      (await store.listAudit()).map((e) => [e.action, e.subject.keyId]),
      [
        ['key-import', 'KEY0000002'],
        ['key-import', 'KEY0000001'],
      ],
    );
    // A cache following the sequence sees the imported keys.
    const after = await store.keyChangesSince(before.seq);
    assert.deepEqual(after.keys.map((k) => k.id).sort(), ['KEY0000001', 'KEY0000002']);
    // And the accounts they created, with their size and plan.
    const changed = await store.changesSince(before.seq);
    assert.deepEqual(changed.accounts, [acme]);
  });

  test(`${name}: importKeys is all or nothing: a hash another key has rejects the whole batch`, async (t) => {
    const store = await open(t);
    await store.putKey(key('KEY0000001', 'acme'));
    const seq = (await store.keyChangesSince(0)).seq;
    await assert.rejects(async () =>
      store.importKeys({
        accounts: [{ id: 'beta', size: 1, plan: '', createdAt: T0 }],
        keys: [
          key('KEY0000002', 'beta', { origin: 'imported' }),
          key('KEY0000003', 'beta', { hash: 'hash-of-KEY0000001', origin: 'imported' }),
        ],
        audit: [audit(T0, 'key-import', 'KEY0000002')],
      }),
    );
    assert.equal(await store.getAccount('beta'), undefined);
    assert.equal(await store.getKey('KEY0000002'), undefined);
    assert.equal(await store.getKey('KEY0000003'), undefined);
    assert.deepEqual(await store.listAudit(), []);
    assert.equal((await store.findKeyByHash('hash-of-KEY0000001'))?.id, 'KEY0000001');
    assert.deepEqual((await store.keyChangesSince(seq)).keys, []);
  });

  test(`${name}: every key change bumps the sequence; keyChangesSince returns each changed key once`, async (t) => {
    const store = await open(t);
    const empty = await store.keyChangesSince(0);
    assert.deepEqual(empty.keys, []);
    await store.putKey(key('KEY0000001', 'acme'));
    await store.putKey(key('KEY0000002', 'acme'));
    const first = await store.keyChangesSince(empty.seq);
    assert.deepEqual(
      first.keys.map((k) => k.id),
      ['KEY0000001', 'KEY0000002'],
    );
    assert.ok(first.seq > empty.seq);

    // Revoke one: only it is returned, with its new status, and the sequence moves on.
    await store.putKey(key('KEY0000001', 'acme', { status: 'revoked', reason: 'RL-7KQ4-M9XT' }));
    const second = await store.keyChangesSince(first.seq);
    assert.deepEqual(
      second.keys.map((k) => [k.id, k.status, k.reason]),
      [['KEY0000001', 'revoked', 'RL-7KQ4-M9XT']],
    );
    assert.ok(second.seq > first.seq);

    // Nothing new: same sequence, no keys.
    assert.deepEqual(await store.keyChangesSince(second.seq), { seq: second.seq, keys: [] });

    // Changed twice since: returned once, latest version, in order of change.
    await store.putKey(key('KEY0000001', 'acme', { status: 'active' }));
    await store.putKey(key('KEY0000002', 'acme', { status: 'suspended' }));
    await store.putKey(key('KEY0000001', 'acme', { status: 'revoked' }));
    const third = await store.keyChangesSince(second.seq);
    assert.deepEqual(
      third.keys.map((k) => [k.id, k.status]),
      [
        ['KEY0000002', 'suspended'],
        ['KEY0000001', 'revoked'],
      ],
    );
  });

  test(`${name}: an account change moves the sequence too, so caches reread accounts`, async (t) => {
    const store = await open(t);
    const before = await store.keyChangesSince(0);
    await store.putAccount({ id: 'acme', size: 3, plan: 'standard', createdAt: T0 });
    const after = await store.keyChangesSince(before.seq);
    assert.ok(after.seq > before.seq);
    assert.deepEqual(after.keys, []);
  });

  test(`${name}: incidents are upserted by reference and found case-insensitively, with or without dashes`, async (t) => {
    const store = await open(t);
    const first = incident('RL-7KQ4-M9XT');
    const other = incident('RL-0000-0001', {
      rule: 'bulk-export',
      subject: { accountId: 'acme', keyId: 'KEY0000001', ip: '198.51.100.7' },
      counters: { dataset: 'companies', exports: 1, allowed: 1 },
      note: 'next export allowed 2026-03-31T12:00:00Z',
    });
    await store.saveIncidents([first, other]);
    for (const typed of ['RL-7KQ4-M9XT', 'rl-7kq4-m9xt', 'rl7kq4m9xt', '7KQ4M9XT', '7kq4-m9xt']) {
      assert.deepEqual(await store.getIncident(typed), first, typed);
    }
    // Crockford reading: O is 0, I and L are 1.
    assert.deepEqual(await store.getIncident('rl-oooo-ooo1'), other);
    assert.deepEqual(await store.getIncident('RL-0000-000L'), other);

    // The same run, later: one row, updated.
    const later = { ...first, endedAt: T0 + 30_000, count: 5_000 };
    await store.saveIncidents([later]);
    assert.deepEqual(await store.getIncident('RL-7KQ4-M9XT'), later);
    assert.equal((await store.listIncidents()).length, 2);

    assert.equal(await store.getIncident('RL-ZZZZ-ZZZZ'), undefined);
    assert.equal(await store.getIncident('RL-7KQ4'), undefined);
    assert.equal(await store.getIncident('not a code'), undefined);
  });

  test(`${name}: a batch of incidents is saved whole`, async (t) => {
    const store = await open(t);
    await store.saveIncidents([]);
    const batch = Array.from({ length: 300 }, (_, i) =>
      incident(`RL-0000-${[15, 10, 5, 0].map((shift) => CROCKFORD[(i >> shift) & 31]).join('')}`, {
        endedAt: T0 + i,
        subject: { ip: `10.0.${i >> 8}.${i & 255}` },
      }),
    );
    await store.saveIncidents(batch);
    assert.equal((await store.listIncidents()).length, 300);
    assert.deepEqual(await store.getIncident(batch[123].reference), batch[123]);
  });

  test(`${name}: listIncidents lists the most recently active first, since and limit`, async (t) => {
    const store = await open(t);
    await store.saveIncidents([
      incident('RL-AAAA-0001', { startedAt: T0, endedAt: T0 + 10 }),
      incident('RL-AAAA-0002', { startedAt: T0 + 1, endedAt: T0 + 30 }),
      // Started first, still going: it is the most recently active.
      incident('RL-AAAA-0003', { startedAt: T0 - 100, endedAt: T0 + 50 }),
    ]);
    const refs = async (options?: { limit?: number; since?: number }) =>
      (await store.listIncidents(options)).map((i) => i.reference);
    assert.deepEqual(await refs(), ['RL-AAAA-0003', 'RL-AAAA-0002', 'RL-AAAA-0001']);
    assert.deepEqual(await refs({ limit: 2 }), ['RL-AAAA-0003', 'RL-AAAA-0002']);
    assert.deepEqual(await refs({ since: T0 + 30 }), ['RL-AAAA-0003', 'RL-AAAA-0002']);
    assert.deepEqual(await refs({ since: T0 + 31, limit: 5 }), ['RL-AAAA-0003']);
    assert.deepEqual(await refs({ since: T0 + 51 }), []);
  });

  test(`${name}: listIncidents of one account lists only its own, since and limit`, async (t) => {
    const store = await open(t);
    const of = (accountId: string) => ({ accountId, keyId: 'KEY0000001', ip: '203.0.113.9' });
    await store.saveIncidents([
      incident('RL-BBBB-0001', { subject: of('acme'), endedAt: T0 + 10 }),
      incident('RL-BBBB-0002', { subject: of('other'), endedAt: T0 + 20 }),
      incident('RL-BBBB-0003', { subject: of('acme'), endedAt: T0 + 30 }),
      incident('RL-BBBB-0004', { endedAt: T0 + 40 }),
    ]);
    const refs = async (options: { accountId: string; limit?: number; since?: number }) =>
      (await store.listIncidents(options)).map((i) => i.reference);
    assert.deepEqual(await refs({ accountId: 'acme' }), ['RL-BBBB-0003', 'RL-BBBB-0001']);
    assert.deepEqual(await refs({ accountId: 'acme', limit: 1 }), ['RL-BBBB-0003']);
    assert.deepEqual(await refs({ accountId: 'acme', since: T0 + 11 }), ['RL-BBBB-0003']);
    assert.deepEqual(await refs({ accountId: 'nobody' }), []);
  });

  test(`${name}: the audit trail lists newest first, with limit and per key`, async (t) => {
    const store = await open(t);
    await store.appendAudit(audit(T0, 'key-create', 'KEY0000001'));
    await store.appendAudit(audit(T0 + 20, 'key-revoke', 'KEY0000001'));
    await store.appendAudit(audit(T0 + 10, 'account-update'));
    // Same time as the revoke, appended after it: listed before it.
    await store.appendAudit({
      ...audit(T0 + 20, 'key-reinstate', 'KEY0000002'),
      reference: 'RL-7KQ4-M9XT',
      actor: 'sluice',
    });
    const all = await store.listAudit();
    assert.deepEqual(
      all.map((e) => e.action),
      ['key-reinstate', 'key-revoke', 'account-update', 'key-create'],
    );
    assert.deepEqual(all[0], {
      at: T0 + 20,
      actor: 'sluice',
      action: 'key-reinstate',
      subject: { accountId: 'acme', keyId: 'KEY0000002' },
      reason: 'because key-reinstate',
      reference: 'RL-7KQ4-M9XT',
    });
    assert.deepEqual(all[2].subject, { accountId: 'acme' });
    assert.equal(all[2].reference, undefined);
    assert.deepEqual(
      (await store.listAudit({ limit: 2 })).map((e) => e.action),
      ['key-reinstate', 'key-revoke'],
    );
    assert.deepEqual(
      (await store.listAudit({ keyId: 'KEY0000001' })).map((e) => e.action),
      ['key-revoke', 'key-create'],
    );
    assert.deepEqual(
      (await store.listAudit({ keyId: 'KEY0000001', limit: 1 })).map((e) => e.action),
      ['key-revoke'],
    );
  });

  test(`${name}: IP blocks are put, listed by IP (expired ones too) and deleted`, async (t) => {
    const store = await open(t);
    assert.deepEqual(await store.listIpBlocks(), []);
    const v4 = ipBlock('203.0.113.9');
    const v6 = ipBlock('2001:db8::7', {
      until: undefined,
      reference: undefined,
      reason: 'ticket 42',
      actor: 'cli:alice',
    });
    // Expired: the store keeps it (only a clock can tell it is over, and stores have none).
    const expired = ipBlock('198.51.100.7', { until: T0 - 1 });
    for (const b of [v4, v6, expired]) await store.putIpBlock(b);
    assert.deepEqual(await store.listIpBlocks(), [expired, v6, v4]);

    assert.equal(await store.deleteIpBlock('203.0.113.9'), true);
    assert.deepEqual(await store.listIpBlocks(), [expired, v6]);
    assert.equal(await store.deleteIpBlock('203.0.113.9'), false, 'already lifted');
    assert.equal(await store.deleteIpBlock('192.0.2.1'), false, 'never blocked');
    assert.deepEqual(await store.listIpBlocks(), [expired, v6]);
  });

  test(`${name}: pruning deletes the blocks that ended before, never a block without an end`, async (t) => {
    const store = await open(t);
    const longGone = ipBlock('198.51.100.1', { until: T0 - 10 });
    const justEnded = ipBlock('198.51.100.2', { until: T0 });
    const running = ipBlock('198.51.100.3', { until: T0 + 10 });
    const forever = ipBlock('198.51.100.4', { until: undefined });
    for (const b of [longGone, justEnded, running, forever]) await store.putIpBlock(b);
    const seq = (await store.keyChangesSince(0)).seq;
    assert.equal(await store.pruneIpBlocks(T0), 1, 'only the block that ended before T0');
    assert.deepEqual(await store.listIpBlocks(), [justEnded, running, forever]);
    assert.equal(await store.pruneIpBlocks(T0 + 1_000_000), 2);
    assert.deepEqual(await store.listIpBlocks(), [forever]);
    assert.equal(await store.pruneIpBlocks(T0 + 1_000_000), 0);
    assert.equal((await store.keyChangesSince(0)).seq, seq, 'the change sequence stays');
  });

  test(`${name}: putting a block for a blocked IP replaces it whole`, async (t) => {
    const store = await open(t);
    await store.putIpBlock(ipBlock('203.0.113.9'));
    const second = ipBlock('203.0.113.9', {
      until: undefined,
      createdAt: T0 + 60_000,
      reason: 'third offence',
      reference: undefined,
      actor: 'cli:bob',
    });
    await store.putIpBlock(second);
    assert.deepEqual(await store.listIpBlocks(), [second]);
    const third = ipBlock('203.0.113.9', { until: T0 + 86_400_000, reference: 'RL-0000-0001' });
    await store.putIpBlock(third);
    assert.deepEqual(await store.listIpBlocks(), [third]);
  });

  test(`${name}: blocking and lifting an IP move the change sequence; lifting nothing does not`, async (t) => {
    const store = await open(t);
    const start = await store.keyChangesSince(0);
    await store.putIpBlock(ipBlock('203.0.113.9'));
    const blocked = await store.keyChangesSince(start.seq);
    assert.ok(blocked.seq > start.seq, 'a block moves the sequence');
    assert.deepEqual(blocked.keys, [], 'a block is not a key change');

    await store.putIpBlock(ipBlock('203.0.113.9', { until: undefined }));
    const replaced = await store.keyChangesSince(blocked.seq);
    assert.ok(replaced.seq > blocked.seq, 'replacing a block moves the sequence');

    assert.equal(await store.deleteIpBlock('192.0.2.1'), false);
    assert.deepEqual(await store.keyChangesSince(replaced.seq), { seq: replaced.seq, keys: [] });

    assert.equal(await store.deleteIpBlock('203.0.113.9'), true);
    const lifted = await store.keyChangesSince(replaced.seq);
    assert.ok(lifted.seq > replaced.seq, 'lifting moves the sequence');
    assert.deepEqual(lifted.keys, []);
  });

  test(`${name}: changesSince returns every record changed after a sequence, once, latest first-to-last`, async (t) => {
    const store = await open(t);
    assert.deepEqual(await store.changesSince(0), {
      seq: 0,
      keys: [],
      accounts: [],
      ipBlocks: [],
      liftedIps: [],
    });
    const acme: Account = { id: 'acme', size: 3, plan: 'standard', createdAt: T0 };
    await store.putAccount(acme);
    await store.putAccount({ ...acme, id: 'zeta' });
    await store.putKey(key('KEY0000001', 'acme'));
    await store.putIpBlock(ipBlock('203.0.113.9'));
    await store.putIpBlock(ipBlock('192.0.2.1'));
    const all = await store.changesSince(0);
    assert.deepEqual(
      all.accounts.map((a) => a.id),
      ['acme', 'zeta'],
    );
    assert.deepEqual(
      all.keys.map((k) => k.id),
      ['KEY0000001'],
    );
    assert.deepEqual(all.ipBlocks, [ipBlock('203.0.113.9'), ipBlock('192.0.2.1')]);
    assert.deepEqual(all.liftedIps, []);
    assert.equal(all.seq, (await store.keyChangesSince(0)).seq, 'the one change sequence');

    // Nothing since: nothing read.
    assert.deepEqual(await store.changesSince(all.seq), {
      seq: all.seq,
      keys: [],
      accounts: [],
      ipBlocks: [],
      liftedIps: [],
    });

    // One of each kind of change: only those rows, in their latest state.
    await store.putAccount({ ...acme, size: 9 });
    await store.putKey(key('KEY0000001', 'acme', { status: 'revoked' }));
    await store.putIpBlock(ipBlock('203.0.113.9', { until: undefined }));
    assert.equal(await store.deleteIpBlock('192.0.2.1'), true);
    assert.equal(await store.deleteIpBlock('198.51.100.4'), false, 'lifting nothing');
    const next = await store.changesSince(all.seq);
    assert.ok(next.seq > all.seq);
    assert.deepEqual(next.accounts, [{ ...acme, size: 9 }]);
    assert.deepEqual(
      next.keys.map((k) => [k.id, k.status]),
      [['KEY0000001', 'revoked']],
    );
    assert.deepEqual(next.ipBlocks, [ipBlock('203.0.113.9', { until: undefined })]);
    assert.deepEqual(next.liftedIps, ['192.0.2.1']);

    // A lifted block put back is a block again, no longer a lift; a pruned block (it had
    // ended) is no change at all.
    await store.putIpBlock(ipBlock('192.0.2.1'));
    await store.putIpBlock(ipBlock('198.51.100.4', { until: T0 - 1 }));
    const back = await store.changesSince(next.seq);
    assert.deepEqual(
      back.ipBlocks.map((b) => b.ip),
      ['192.0.2.1', '198.51.100.4'],
    );
    assert.deepEqual(back.liftedIps, []);
    assert.equal(await store.pruneIpBlocks(T0), 1);
    assert.deepEqual((await store.changesSince(back.seq)).ipBlocks, []);
    assert.deepEqual(
      (await store.changesSince(0)).ipBlocks.map((b) => b.ip),
      ['203.0.113.9', '192.0.2.1'],
    );
  });

  test(`${name}: the first bulk export is allowed, the next refused until a period after it`, async (t) => {
    const store = await open(t);
    assert.deepEqual(await store.takeBulkExport('acme', 'companies', T0, 1, MONTH), {
      allowed: true,
      used: 0,
      nextAllowedAt: undefined,
    });
    const refused = { allowed: false, used: 1, nextAllowedAt: T0 + MONTH };
    assert.deepEqual(await store.takeBulkExport('acme', 'companies', T0 + 1, 1, MONTH), refused);
    // A refusal is not recorded: asking again a day later does not push the date back.
    assert.deepEqual(
      await store.takeBulkExport('acme', 'companies', T0 + 86_400_000, 1, MONTH),
      refused,
    );
    assert.deepEqual(
      await store.takeBulkExport('acme', 'companies', T0 + MONTH - 1, 1, MONTH),
      refused,
    );
    // At `nextAllowedAt` exactly, the first export has left the window.
    assert.deepEqual(await store.takeBulkExport('acme', 'companies', T0 + MONTH, 1, MONTH), {
      allowed: true,
      used: 0,
      nextAllowedAt: undefined,
    });
    assert.deepEqual(await store.takeBulkExport('acme', 'companies', T0 + MONTH, 1, MONTH), {
      allowed: false,
      used: 1,
      nextAllowedAt: T0 + 2 * MONTH,
    });
  });

  test(`${name}: bulk exports of other datasets and other owners are counted apart`, async (t) => {
    const store = await open(t);
    const take = async (owner: string, dataset: string, now: number) =>
      (await store.takeBulkExport(owner, dataset, now, 1, MONTH)).allowed;
    assert.equal(await take('acme', 'companies', T0), true);
    assert.equal(await take('acme', 'devices', T0 + 1), true);
    assert.equal(await take('beta', 'companies', T0 + 2), true);
    assert.equal(await take('ip:203.0.113.9', 'companies', T0 + 3), true);
    // Names that would collide if joined naively ("a:b" + "c" and "a" + "b:c") stay apart.
    assert.equal(await take('a:b', 'c', T0), true);
    assert.equal(await take('a', 'b:c', T0), true);
    for (const [owner, dataset] of [
      ['acme', 'companies'],
      ['acme', 'devices'],
      ['beta', 'companies'],
      ['ip:203.0.113.9', 'companies'],
      ['a:b', 'c'],
      ['a', 'b:c'],
    ]) {
      assert.equal(await take(owner, dataset, T0 + 10), false, `${owner} ${dataset}`);
    }
    const devices = await store.takeBulkExport('acme', 'devices', T0 + 10, 1, MONTH);
    assert.equal(devices.nextAllowedAt, T0 + 1 + MONTH);
  });

  test(`${name}: listBulkExports reads an owner's exports after a time, oldest first, taking none`, async (t) => {
    const store = await open(t);
    await store.takeBulkExport('acme', 'devices', T0 + 20, 1, MONTH);
    await store.takeBulkExport('acme', 'companies', T0 + 10, 1, MONTH);
    await store.takeBulkExport('other', 'companies', T0 + 15, 1, MONTH);
    assert.deepEqual(await store.listBulkExports('acme', T0), [
      { dataset: 'companies', at: T0 + 10 },
      { dataset: 'devices', at: T0 + 20 },
    ]);
    assert.deepEqual(await store.listBulkExports('acme', T0 + 10), [
      { dataset: 'devices', at: T0 + 20 },
    ]);
    assert.deepEqual(await store.listBulkExports('nobody', T0), []);
    // Reading took nothing: the export of devices is still the only one in its period.
    assert.equal((await store.takeBulkExport('acme', 'devices', T0 + 30, 1, MONTH)).allowed, false);
  });

  test(`${name}: with a limit of 2 per period, the oldest export leaving the window frees one`, async (t) => {
    const store = await open(t);
    const take = (now: number, limit = 2) =>
      store.takeBulkExport('acme', 'logs', now, limit, MONTH);
    assert.deepEqual(await take(T0), { allowed: true, used: 0, nextAllowedAt: undefined });
    assert.deepEqual(await take(T0 + 10), { allowed: true, used: 1, nextAllowedAt: undefined });
    assert.deepEqual(await take(T0 + 20), { allowed: false, used: 2, nextAllowedAt: T0 + MONTH });
    // The first one leaves: one slot, taken; now the second one is the oldest.
    assert.deepEqual(await take(T0 + MONTH), { allowed: true, used: 1, nextAllowedAt: undefined });
    assert.deepEqual(await take(T0 + MONTH + 1), {
      allowed: false,
      used: 2,
      nextAllowedAt: T0 + 10 + MONTH,
    });
    // Two in the same millisecond both count.
    assert.deepEqual(await take(T0 + 3 * MONTH), {
      allowed: true,
      used: 0,
      nextAllowedAt: undefined,
    });
    assert.deepEqual(await take(T0 + 3 * MONTH), {
      allowed: true,
      used: 1,
      nextAllowedAt: undefined,
    });
    assert.deepEqual(await take(T0 + 3 * MONTH + 5), {
      allowed: false,
      used: 2,
      nextAllowedAt: T0 + 4 * MONTH,
    });
  });

  test(`${name}: a lowered bulk limit waits until enough exports have left the window`, async (t) => {
    const store = await open(t);
    const take = (now: number, limit: number) =>
      store.takeBulkExport('acme', 'jobs', now, limit, MONTH);
    for (const at of [T0, T0 + 10, T0 + 20]) assert.equal((await take(at, 3)).allowed, true);
    // Three counted, one allowed: two must leave before one more fits, so the third oldest.
    assert.deepEqual(await take(T0 + 30, 1), {
      allowed: false,
      used: 3,
      nextAllowedAt: T0 + 20 + MONTH,
    });
    assert.deepEqual(await take(T0 + 20 + MONTH - 1, 1), {
      allowed: false,
      used: 1,
      nextAllowedAt: T0 + 20 + MONTH,
    });
    assert.equal((await take(T0 + 20 + MONTH, 1)).allowed, true);
    // A limit below 1 never allows, so there is no date to give.
    assert.deepEqual(await store.takeBulkExport('beta', 'jobs', T0, 0, MONTH), {
      allowed: false,
      used: 0,
      nextAllowedAt: undefined,
    });
  });
}

/**
 * For stores shared by several instances (processes, nodes): `newPlace` makes a fresh
 * empty place (a directory, a key prefix) and returns how to open an instance on it.
 *
 * @example
 * runSharedRecordStoreContract('sqlite', () => {
 *   const dir = tempDir();
 *   return () => openSqliteRecordStore(dir);
 * });
 */
export function runSharedRecordStoreContract(
  name: string,
  newPlace: () => () => MaybePromise<RecordStore>,
): void {
  test(`${name}: IP blocks and the sequence survive close and reopen`, async () => {
    const openHere = newPlace();
    const a = await openHere();
    const kept = [ipBlock('203.0.113.9'), ipBlock('2001:db8::7', { until: undefined })];
    let seq: number;
    try {
      for (const b of kept) await a.putIpBlock(b);
      await a.putIpBlock(ipBlock('192.0.2.1'));
      assert.equal(await a.deleteIpBlock('192.0.2.1'), true);
      seq = (await a.keyChangesSince(0)).seq;
    } finally {
      await a.close();
    }
    const b = await openHere();
    try {
      assert.deepEqual(await b.listIpBlocks(), [kept[1], kept[0]]);
      // The sequence continues where it was: a cache that saw `seq` misses no lift.
      assert.equal((await b.keyChangesSince(0)).seq, seq);
      assert.equal(await b.deleteIpBlock('203.0.113.9'), true);
      assert.ok((await b.keyChangesSince(seq)).seq > seq);
    } finally {
      await b.close();
    }
  });

  test(`${name}: a block put or lifted by one instance reaches another through the sequence`, async () => {
    const openHere = newPlace();
    const gateway = await openHere();
    const cli = await openHere();
    try {
      const seen = (await gateway.keyChangesSince(0)).seq;
      const block = ipBlock('203.0.113.9', { actor: 'cli:alice', reference: undefined });
      await cli.putIpBlock(block);
      const afterBlock = await gateway.keyChangesSince(seen);
      assert.ok(afterBlock.seq > seen, 'the gateway sees the sequence move');
      assert.deepEqual(await gateway.listIpBlocks(), [block]);

      assert.equal(await cli.deleteIpBlock('203.0.113.9'), true);
      const afterLift = await gateway.keyChangesSince(afterBlock.seq);
      assert.ok(afterLift.seq > afterBlock.seq, 'and again when the block is lifted');
      assert.deepEqual(await gateway.listIpBlocks(), []);
      // Lifted elsewhere: lifting it here again finds nothing.
      assert.equal(await gateway.deleteIpBlock('203.0.113.9'), false);
    } finally {
      await gateway.close();
      await cli.close();
    }
  });

  test(`${name}: a bulk export taken before a restart still counts after it`, async () => {
    const openHere = newPlace();
    const a = await openHere();
    try {
      assert.equal((await a.takeBulkExport('acme', 'companies', T0, 1, MONTH)).allowed, true);
    } finally {
      await a.close();
    }
    const b = await openHere();
    try {
      assert.deepEqual(await b.takeBulkExport('acme', 'companies', T0 + 1_000, 1, MONTH), {
        allowed: false,
        used: 1,
        nextAllowedAt: T0 + MONTH,
      });
      assert.equal((await b.takeBulkExport('acme', 'devices', T0 + 1_000, 1, MONTH)).allowed, true);
    } finally {
      await b.close();
    }
  });

  test(`${name}: instances on one place share one bulk allowance`, async () => {
    const openHere = newPlace();
    const one = await openHere();
    const two = await openHere();
    try {
      assert.equal((await one.takeBulkExport('acme', 'logs', T0, 2, MONTH)).allowed, true);
      assert.deepEqual(await two.takeBulkExport('acme', 'logs', T0 + 5, 2, MONTH), {
        allowed: true,
        used: 1,
        nextAllowedAt: undefined,
      });
      assert.deepEqual(await one.takeBulkExport('acme', 'logs', T0 + 9, 2, MONTH), {
        allowed: false,
        used: 2,
        nextAllowedAt: T0 + MONTH,
      });
      assert.equal((await two.takeBulkExport('acme', 'logs', T0 + MONTH, 2, MONTH)).allowed, true);
      assert.equal((await one.takeBulkExport('acme', 'logs', T0 + MONTH, 2, MONTH)).allowed, false);
    } finally {
      await one.close();
      await two.close();
    }
  });
}
