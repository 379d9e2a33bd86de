/**
 * The operations on records (src/records/) against one record store: a key's status
 * changed by `changeKeyStatus` and an IP block lifted by `liftIpBlock`, the same whoever
 * calls (`sluice keys`, the admin API, the safeguards). Run against every store, and
 * against one that answers with promises on a later turn, to prove every path awaits.
 *
 * @example
 * runRecordsServiceContract('memory', () => { const s = new MemoryRecordStore(); return { store: s, inner: s }; });
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MaybePromise } from '../../src/core/maybe-async.ts';
import type { Actor, ApiKeyRecord, AuditEntry, IpBlock } from '../../src/core/records.ts';
import type { RecordsContext } from '../../src/records/context.ts';
import { liftIpBlock } from '../../src/records/ip-blocks.ts';
import { changeKeyStatus, type KeyStatusChange } from '../../src/records/key-status.ts';
import type { RecordStore } from '../../src/store/types.ts';
import { ipBlock, key } from './record-store.contract.ts';

const T0 = Date.UTC(2026, 2, 1, 12, 0, 0);
const NOW = T0 + 60_000;
const HOUR = 3_600_000;
/** A real key id (Crockford base32), so it can be typed in other spellings. */
const ID = '7KQ4M9XT2B';

/**
 * `store` is what the operations get; `inner` the same records read synchronously, to
 * see what was written by the time an operation returned.
 */
export interface ServiceStores {
  readonly store: RecordStore;
  readonly inner: SyncRecords;
}

/** The reads the tests make, answered at once (memory and SQLite stores answer so). */
export interface SyncRecords {
  getKey(id: string): ApiKeyRecord | undefined;
  listAudit(): AuditEntry[];
  listIpBlocks(): IpBlock[];
  keyChangesSince(seq: number): { seq: number; keys: ApiKeyRecord[] };
  close(): void;
}

export function runRecordsServiceContract(
  name: string,
  open: () => MaybePromise<ServiceStores>,
): void {
  async function setUp(t: { after(fn: () => unknown): void }, keys: ApiKeyRecord[] = []) {
    const stores = await open();
    t.after(() => stores.inner.close());
    for (const k of keys) await stores.store.putKey(k);
    const cached: ApiKeyRecord[] = [];
    const ctx: RecordsContext = {
      store: stores.store,
      now: NOW,
      keyChanged: (k) => {
        // The hook runs once the store holds the change: the cache never runs ahead.
        assert.deepEqual(stores.inner.getKey(k.id), k, 'stored before the cache hears of it');
        cached.push(k);
      },
    };
    return { ...stores, ctx, cached };
  }

  const revoke = (over: Partial<KeyStatusChange> = {}): KeyStatusChange => ({
    keyId: ID,
    to: 'revoked',
    reason: 'ticket 42',
    actor: 'admin:dana',
    ...over,
  });

  test(`${name}: a revocation is stored, audited and told to the cache before it returns`, async (t) => {
    const { ctx, inner, cached } = await setUp(t, [key(ID, 'acme')]);
    const result = await changeKeyStatus(ctx, revoke());
    const expected: ApiKeyRecord = {
      ...key(ID, 'acme'),
      status: 'revoked',
      updatedAt: NOW,
      reason: 'ticket 42',
      statusBy: 'admin:dana',
    };
    assert.deepEqual(result, {
      outcome: 'changed',
      key: expected,
      was: key(ID, 'acme'),
      action: 'key-revoke',
    });
    assert.deepEqual(inner.getKey(ID), expected);
    assert.deepEqual(cached, [expected]);
    assert.deepEqual(inner.listAudit(), [
      {
        at: NOW,
        actor: 'admin:dana',
        action: 'key-revoke',
        subject: { accountId: 'acme', keyId: ID },
        reason: 'ticket 42',
        reference: undefined,
      },
    ]);
  });

  test(`${name}: a key id is read in any case and with O, I, L for 0, 1, 1`, async (t) => {
    const { ctx, inner } = await setUp(t, [key(ID, 'acme'), key('10000000AB', 'acme')]);
    assert.equal((await changeKeyStatus(ctx, revoke({ keyId: '7kq4m9xt2b' }))).outcome, 'changed');
    assert.equal((await changeKeyStatus(ctx, revoke({ keyId: 'IOOOOOOOab' }))).outcome, 'changed');
    assert.deepEqual(
      [inner.getKey(ID)?.status, inner.getKey('10000000AB')?.status],
      ['revoked', 'revoked'],
    );
    assert.deepEqual(
      inner.listAudit().map((a) => a.subject.keyId),
      ['10000000AB', ID],
      'the trail names the key as stored',
    );
  });

  test(`${name}: an unknown or malformed key id is not found, and nothing is written`, async (t) => {
    const { ctx, inner, cached } = await setUp(t, [key(ID, 'acme')]);
    const seq = inner.keyChangesSince(0).seq;
    for (const keyId of ['ZZZZZZZZZZ', 'hello', '', `${ID}X`]) {
      assert.deepEqual(await changeKeyStatus(ctx, revoke({ keyId })), { outcome: 'not-found' });
    }
    assert.equal(inner.keyChangesSince(0).seq, seq);
    assert.deepEqual([inner.listAudit(), cached], [[], []]);
  });

  test(`${name}: a key already in that status is left as it is: no write, no audit, no cache call`, async (t) => {
    const revoked = key(ID, 'acme', { status: 'revoked', updatedAt: T0 + 5, reason: 'ticket 1' });
    const { ctx, inner, cached } = await setUp(t, [revoked]);
    const seq = inner.keyChangesSince(0).seq;
    assert.deepEqual(await changeKeyStatus(ctx, revoke({ actor: 'cli:alice' })), {
      outcome: 'unchanged',
      key: revoked,
    });
    assert.equal(inner.keyChangesSince(0).seq, seq, 'the change sequence did not move');
    assert.deepEqual(inner.getKey(ID), revoked);
    assert.deepEqual([inner.listAudit(), cached], [[], []]);
  });

  test(`${name}: suspensions: until a time, moved by a new one, never shortening a revocation`, async (t) => {
    const { ctx, inner, cached } = await setUp(t, [key(ID, 'acme')]);
    const suspend = (until: number): KeyStatusChange => ({
      keyId: ID,
      to: 'suspended',
      until,
      reason: 'kept sending while answered 429',
      actor: 'sluice',
      reference: 'RL-7KQ4-M9XT',
    });
    const first = await changeKeyStatus(ctx, suspend(NOW + HOUR));
    assert.equal(first.outcome, 'changed');
    assert.deepEqual(
      (({ status, suspendedUntil, reason }) => ({ status, suspendedUntil, reason }))(
        inner.getKey(ID)!,
      ),
      {
        status: 'suspended',
        suspendedUntil: NOW + HOUR,
        // The key's reason leads with the incident, for support to look up.
        reason: 'RL-7KQ4-M9XT: kept sending while answered 429',
      },
    );
    assert.equal((await changeKeyStatus(ctx, suspend(NOW + HOUR))).outcome, 'unchanged');
    assert.equal((await changeKeyStatus(ctx, suspend(NOW + 2 * HOUR))).outcome, 'changed');
    assert.equal(inner.getKey(ID)?.suspendedUntil, NOW + 2 * HOUR);

    const revoked = await changeKeyStatus(ctx, { ...suspend(0), to: 'revoked', until: NOW });
    assert.equal(revoked.outcome, 'changed');
    assert.deepEqual(
      [inner.getKey(ID)?.status, inner.getKey(ID)?.suspendedUntil],
      ['revoked', undefined],
      'a revocation has no end, whatever until says',
    );
    assert.equal(
      (await changeKeyStatus(ctx, suspend(NOW + 3 * HOUR))).outcome,
      'unchanged',
      'a suspension would shorten the revocation',
    );
    assert.equal(inner.getKey(ID)?.status, 'revoked');
    assert.equal(cached.length, 3);
    assert.deepEqual(
      inner.listAudit().map((a) => [a.action, a.actor, a.reason, a.reference]),
      [
        ['key-revoke', 'sluice', 'kept sending while answered 429', 'RL-7KQ4-M9XT'],
        ['key-suspend', 'sluice', 'kept sending while answered 429', 'RL-7KQ4-M9XT'],
        ['key-suspend', 'sluice', 'kept sending while answered 429', 'RL-7KQ4-M9XT'],
      ],
    );
  });

  test(`${name}: the audit words are one vocabulary, whichever entry point acts`, async (t) => {
    const { ctx, inner } = await setUp(t, [key(ID, 'acme')]);
    const steps: KeyStatusChange[] = [
      revoke({ actor: 'cli:alice' }),
      revoke({ to: 'active', actor: 'cli:alice' }),
      revoke({ actor: 'admin:dana' }),
      revoke({ to: 'active', actor: 'admin:api' }),
      revoke({ actor: 'sluice' }),
    ];
    for (const step of steps) assert.equal((await changeKeyStatus(ctx, step)).outcome, 'changed');
    assert.deepEqual(
      inner
        .listAudit()
        .map((a) => `${a.actor} ${a.action}`)
        .reverse(),
      [
        'cli:alice key-revoke',
        'cli:alice key-reinstate',
        'admin:dana key-revoke',
        'admin:api key-reinstate',
        'sluice key-revoke',
      ],
    );
  });

  test(`${name}: lifting an IP block deletes it, audits it with its reference, and the cache rereads before it returns`, async (t) => {
    const { store, inner } = await setUp(t);
    await store.putIpBlock(ipBlock('2001:0DB8::0001'));
    await store.putIpBlock(ipBlock('203.0.113.9', { reference: undefined, actor: 'cli:bob' }));
    let reread = 0;
    const ctx: RecordsContext = {
      store,
      now: NOW,
      ipBlocksChanged: async () => {
        await new Promise<void>((resolve) => setImmediate(resolve));
        reread++;
      },
    };
    // Stored as sent, lifted as the gateway spells it.
    const lifted = await liftIpBlock(ctx, {
      ip: '2001:db8::1',
      actor: 'admin:dana',
      reason: 'ticket 9',
    });
    assert.equal(lifted?.ip, '2001:0DB8::0001');
    assert.equal(reread, 1, 'the cache reread its blocks before the lift returned');
    assert.deepEqual(
      inner.listIpBlocks().map((b) => b.ip),
      ['203.0.113.9'],
    );
    assert.deepEqual(inner.listAudit(), [
      {
        at: NOW,
        actor: 'admin:dana',
        action: 'unblock-ip',
        subject: { ip: '2001:db8::1' },
        reason: 'ticket 9',
        reference: 'RL-7KQ4-M9XT',
      },
    ]);

    const none = await liftIpBlock(ctx, { ip: '198.51.100.1', actor: 'cli:bob', reason: 'x' });
    assert.equal(none, undefined);
    assert.equal(reread, 1, 'nothing lifted: nothing to reread');
    assert.equal(inner.listAudit().length, 1, 'nothing lifted: nothing audited');

    // Without a cache to tell (the CLI): written by the time it returns all the same.
    const cli = await liftIpBlock(
      { store, now: NOW + 1 },
      { ip: '203.0.113.9', actor: 'cli:bob', reason: 'ticket 10' },
    );
    assert.equal(cli?.actor, 'cli:bob');
    assert.deepEqual(inner.listIpBlocks(), []);
    assert.deepEqual(
      inner.listAudit().map((a) => [a.action, a.actor, a.reason, a.reference]),
      [
        ['unblock-ip', 'cli:bob', 'ticket 10', undefined],
        ['unblock-ip', 'admin:dana', 'ticket 9', 'RL-7KQ4-M9XT'],
      ],
    );
  });

  test(`${name}: two lifts of one block at once: one lifts it, the other finds it gone`, async (t) => {
    const { store, inner } = await setUp(t);
    await store.putIpBlock(ipBlock('203.0.113.9'));
    const ctx: RecordsContext = { store, now: NOW };
    const lift = (actor: Actor) => liftIpBlock(ctx, { ip: '203.0.113.9', actor, reason: 'x' });
    const both = await Promise.all([lift('cli:alice'), lift('admin:dana')]);
    assert.deepEqual(
      both.map((b) => b?.ip),
      ['203.0.113.9', undefined],
    );
    assert.deepEqual(
      inner.listAudit().map((a) => a.actor),
      ['cli:alice'],
      'one lift, one entry',
    );
  });
}
