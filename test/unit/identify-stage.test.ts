/**
 * The identify stage with its real parts (the identity cache over a memory record store,
 * a manual clock, the compiled runtime): which refusal it decides before any limit is
 * counted, with the facts its incident records, and the caller it hands on otherwise.
 * The wire form of each refusal is checked in inprocess-wire-contract.test.ts.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { generateApiKey } from '../../src/core/api-key.ts';
import { manualClock } from '../../src/core/clock.ts';
import type { CredentialSource, Policy } from '../../src/core/policy/types.ts';
import type { IpBlock, KeyStatus } from '../../src/core/records.ts';
import { createIdentityCache } from '../../src/gateway/identity-cache.ts';
import { compileRuntime } from '../../src/gateway/runtime.ts';
import {
  type Caller,
  type IdentifyInput,
  identifyCaller,
} from '../../src/gateway/stages/identify.ts';
import { MemoryRecordStore } from '../../src/store/memory-record-store.ts';
import { testPolicy } from './helpers/policy-fixture.ts';

const T0 = Date.UTC(2026, 0, 5, 12);
const IP = '192.0.2.7';

type Block = Pick<IpBlock, 'until' | 'reason' | 'actor' | 'earnedBy'>;

interface KeyOptions {
  status?: KeyStatus;
  origin?: 'sluice' | 'imported';
  suspendedUntil?: number;
  reason?: string;
  statusBy?: string;
}

/** The stage over a real identity cache; `block` is the IP's block as the cache would hold it. */
async function harness(
  t: { after(fn: () => void): void },
  options: {
    policy?: Partial<Policy>;
    accounts?: { id: string; plan: string; size: number }[];
    keys?: Record<string, { account: string } & KeyOptions>;
  } = {},
) {
  const clock = manualClock(T0);
  const store = new MemoryRecordStore();
  for (const a of options.accounts ?? []) store.putAccount({ ...a, createdAt: T0 });
  const secrets: Record<string, { secret: string; id: string }> = {};
  for (const [name, k] of Object.entries(options.keys ?? {})) {
    const made = generateApiKey();
    store.putKey({
      id: made.id,
      accountId: k.account,
      hash: made.hash,
      status: k.status ?? 'active',
      suspendedUntil: k.suspendedUntil,
      createdAt: T0,
      updatedAt: T0,
      reason: k.reason,
      ...(k.origin === undefined ? {} : { origin: k.origin }),
      ...(k.statusBy === undefined ? {} : { statusBy: k.statusBy }),
    });
    secrets[name] = { secret: made.secret, id: made.id };
  }
  const identities = await createIdentityCache(store, { pollMs: 60_000 });
  t.after(() => identities.close());
  const runtime = compileRuntime(testPolicy(options.policy));
  let block: Block | undefined;
  const identify = (key?: string, ip = IP) => {
    const headers = key === undefined ? {} : { authorization: `Bearer ${key}` };
    const req = { socket: { remoteAddress: ip }, headers } as unknown as IncomingMessage;
    return identifyCaller(req, runtime, {
      clock,
      identities,
      ipBlock: (asked) => (asked === IP ? block : undefined),
    });
  };
  /** As the pipeline calls it: the credential read (and the delegate's answer) handed in. */
  const identifyWith = (input: IdentifyInput, ip = IP, headers = {}) => {
    const req = { socket: { remoteAddress: ip }, headers } as unknown as IncomingMessage;
    return identifyCaller(
      req,
      runtime,
      { clock, identities, ipBlock: (asked) => (asked === IP ? block : undefined) },
      input,
    );
  };
  return {
    clock,
    secrets,
    identify,
    identifyWith,
    block: (b: Block | undefined) => {
      block = b;
    },
  };
}

function refusalOf(who: ReturnType<typeof identifyCaller>) {
  assert.ok('refusal' in who, 'refused');
  const { rule, status, retryAfterMs, counters } = who.refusal;
  return { rule, status, retryAfterMs, counters, caller: who.caller };
}

function callerOf(who: ReturnType<typeof identifyCaller>): Caller {
  assert.ok(!('refusal' in who), `not refused (${'refusal' in who ? who.refusal.rule : ''})`);
  return who;
}

test('a block until lifted refuses with no Retry-After and says so; by whom', async (t) => {
  const h = await harness(t);
  h.block({ until: undefined, reason: 'scraping', actor: 'cli:alice', earnedBy: undefined });
  const r = refusalOf(h.identify());
  assert.deepEqual(
    { rule: r.rule, status: r.status, retryAfterMs: r.retryAfterMs, counters: r.counters },
    {
      rule: 'ip-blocked',
      status: 403,
      retryAfterMs: 0,
      counters: { reason: 'scraping', blockedUntil: 'until lifted', by: 'cli:alice' },
    },
  );
  assert.deepEqual(r.caller.subject, { ip: IP });
  assert.equal(r.caller.arrivedAt, T0);
});

test('a block nobody earned refuses at once: the key is not even read', async (t) => {
  const h = await harness(t, { keys: { acme: { account: 'acme' } } });
  h.block({ until: undefined, reason: 'scraping', actor: 'cli:alice', earnedBy: undefined });
  const r = refusalOf(h.identify(h.secrets.acme!.secret));
  assert.equal(r.rule, 'ip-blocked');
  assert.deepEqual(r.caller.subject, { ip: IP }, 'the incident names the IP alone');
});

test('a block with an end refuses until then, with the time left and its end', async (t) => {
  const h = await harness(t);
  h.block({ until: T0 + 90_000, reason: 'kept sending', actor: 'sluice', earnedBy: undefined });
  const r = refusalOf(h.identify());
  assert.equal(r.rule, 'ip-blocked');
  assert.equal(r.retryAfterMs, 90_000);
  assert.deepEqual(r.counters, {
    reason: 'kept sending',
    blockedUntil: '2026-01-05T12:01:30.000Z',
    by: 'sluice',
  });
  h.clock.advance(89_999);
  assert.equal(refusalOf(h.identify()).retryAfterMs, 1);
  h.clock.advance(1);
  assert.deepEqual(callerOf(h.identify()).subject, { ip: IP }, 'ended exactly at its end');
});

test('a block a key earned refuses that account and keyless callers, not other accounts', async (t) => {
  const h = await harness(t, {
    accounts: [
      { id: 'acme', plan: 'standard', size: 0 },
      { id: 'other', plan: 'standard', size: 0 },
    ],
    keys: {
      acme: { account: 'acme' },
      acme2: { account: 'acme' },
      other: { account: 'other' },
      otherRevoked: { account: 'other', status: 'revoked', reason: 'leaked' },
      // Suspended once (the end has passed), revoked since: not valid.
      otherRevokedAfter: { account: 'other', status: 'revoked', suspendedUntil: T0 - 1 },
      otherSuspended: { account: 'other', status: 'suspended', suspendedUntil: T0 + 1 },
    },
  });
  const earnedBy = { keyId: h.secrets.acme!.id, accountId: 'acme' };
  h.block({ until: T0 + 60_000, reason: 'ignoring 429', actor: 'sluice', earnedBy });
  const expected = {
    reason: 'ignoring 429',
    blockedUntil: '2026-01-05T12:01:00.000Z',
    by: 'sluice',
    earnedByKey: h.secrets.acme!.id,
  };
  assert.deepEqual(refusalOf(h.identify()).counters, expected, 'no key');
  assert.deepEqual(refusalOf(h.identify('sk_unknown_key')).counters, expected, 'unknown key');
  const own = refusalOf(h.identify(h.secrets.acme2!.secret));
  assert.deepEqual(own.counters, expected, 'another key of the account');
  assert.equal(own.caller.subject.accountId, 'acme');
  assert.equal(callerOf(h.identify(h.secrets.other!.secret)).account?.id, 'other');
  assert.equal(
    refusalOf(h.identify(h.secrets.otherRevoked!.secret)).rule,
    'ip-blocked',
    'a key that is not valid does not pass the block',
  );
  assert.equal(refusalOf(h.identify(h.secrets.otherRevokedAfter!.secret)).rule, 'ip-blocked');
  assert.equal(refusalOf(h.identify(h.secrets.otherSuspended!.secret)).rule, 'ip-blocked');
});

test('unauthenticated: refuse answers no key key-missing and an unknown key key-unknown', async (t) => {
  const h = await harness(t, {
    policy: { server: { ...testPolicy().server, unauthenticated: 'refuse' } },
  });
  const missing = refusalOf(h.identify());
  assert.deepEqual(
    [missing.rule, missing.status, missing.retryAfterMs, missing.counters],
    ['key-missing', 401, 0, {}],
  );
  const unknown = refusalOf(h.identify('sk_made_up'));
  assert.deepEqual(
    [unknown.rule, unknown.status, unknown.retryAfterMs, unknown.counters],
    ['key-unknown', 401, 0, {}],
  );
});

test('unauthenticated: ip-only lets no key and an unknown key through as the IP alone', async (t) => {
  const h = await harness(t);
  for (const key of [undefined, 'sk_made_up']) {
    const c = callerOf(h.identify(key));
    assert.deepEqual(c, {
      ip: IP,
      ipScope: IP,
      arrivedAt: T0,
      subject: { ip: IP },
      account: undefined,
      plan: undefined,
    });
  }
});

test('a revoked key is refused with its status, reason and who revoked it', async (t) => {
  const h = await harness(t, {
    keys: {
      by: { account: 'acme', status: 'revoked', reason: 'RL-AAAA-BBBB', statusBy: 'cli:bob' },
      bare: { account: 'acme', status: 'revoked' },
    },
  });
  const r = refusalOf(h.identify(h.secrets.by!.secret));
  assert.deepEqual(
    [r.rule, r.status, r.retryAfterMs, r.counters],
    ['key-revoked', 403, 0, { keyStatus: 'revoked', reason: 'RL-AAAA-BBBB', by: 'cli:bob' }],
  );
  assert.deepEqual(r.caller.subject, { accountId: 'acme', keyId: h.secrets.by!.id, ip: IP });
  assert.deepEqual(refusalOf(h.identify(h.secrets.bare!.secret)).counters, {
    keyStatus: 'revoked',
    reason: '',
  });
});

test('a suspended key is refused until its end, then passes; with no end, for good', async (t) => {
  const h = await harness(t, {
    accounts: [{ id: 'acme', plan: 'standard', size: 0 }],
    keys: {
      until: {
        account: 'acme',
        status: 'suspended',
        suspendedUntil: T0 + 5_000,
        reason: 'RL-CCCC-DDDD',
        statusBy: 'sluice',
      },
      forever: { account: 'acme', status: 'suspended' },
    },
  });
  const r = refusalOf(h.identify(h.secrets.until!.secret));
  assert.deepEqual(
    [r.rule, r.status, r.retryAfterMs, r.counters],
    ['key-suspended', 403, 5_000, { keyStatus: 'suspended', reason: 'RL-CCCC-DDDD', by: 'sluice' }],
  );
  const forever = refusalOf(h.identify(h.secrets.forever!.secret));
  assert.deepEqual(
    [forever.rule, forever.retryAfterMs, forever.counters],
    ['key-suspended', 0, { keyStatus: 'suspended', reason: '' }],
  );
  h.clock.advance(5_000);
  assert.equal(callerOf(h.identify(h.secrets.until!.secret)).account?.id, 'acme', 'ended');
  assert.equal(refusalOf(h.identify(h.secrets.forever!.secret)).rule, 'key-suspended');
});

test('a suspension that ended counts as a valid key against a block another account earned', async (t) => {
  const h = await harness(t, {
    accounts: [{ id: 'acme', plan: 'standard', size: 0 }],
    keys: { k: { account: 'acme', status: 'suspended', suspendedUntil: T0 } },
  });
  h.block({
    until: undefined,
    reason: 'r',
    actor: 'sluice',
    earnedBy: { keyId: 'KOTHER', accountId: 'other' },
  });
  assert.equal(callerOf(h.identify(h.secrets.k!.secret)).account?.id, 'acme');
});

test("an account's plan, size and shared egress scope; an unknown plan falls back to the default", async (t) => {
  const h = await harness(t, {
    policy: { ip: { ...testPolicy().ip, sharedEgress: ['198.51.100.0/24'] } },
    accounts: [
      { id: 'small', plan: 'tiny', size: 3 },
      { id: 'gone', plan: 'retired-plan', size: 7 },
    ],
    keys: { small: { account: 'small' }, gone: { account: 'gone' }, orphan: { account: 'nobody' } },
  });
  const small = callerOf(h.identify(h.secrets.small!.secret));
  assert.deepEqual(small.account, { id: 'small', size: 3, plan: 'tiny' });
  assert.equal(small.plan?.name, 'tiny');
  assert.equal(small.ipScope, IP);
  assert.deepEqual(small.subject, { accountId: 'small', keyId: h.secrets.small!.id, ip: IP });
  const gone = callerOf(h.identify(h.secrets.gone!.secret));
  assert.deepEqual(gone.account, { id: 'gone', size: 7, plan: 'standard' });
  assert.equal(gone.plan?.name, 'standard');
  const orphan = callerOf(h.identify(h.secrets.orphan!.secret));
  assert.deepEqual(orphan.account, { id: 'nobody', size: 0, plan: 'standard' });
  assert.equal(orphan.plan?.name, 'standard');
  const shared = callerOf(h.identify(h.secrets.small!.secret, '198.51.100.20'));
  assert.equal(shared.ipScope, '198.51.100.20#small');
  assert.equal(shared.ip, '198.51.100.20');
});

const BEARER: readonly CredentialSource[] = [{ kind: 'authorization', scheme: 'Bearer' }];

test('the credential the pipeline read is the one identified, not the headers read again', async (t) => {
  const h = await harness(t, {
    accounts: [{ id: 'acme', plan: 'standard', size: 0 }],
    keys: { acme: { account: 'acme' } },
  });
  const secret = h.secrets.acme!.secret;
  const who = callerOf(h.identifyWith({ credential: { credential: secret, sources: BEARER } }));
  assert.equal(who.account?.id, 'acme', 'the headers carry no key: the input is read');
  // Read nothing: the headers' key is not looked at again.
  const none = callerOf(
    h.identifyWith({ credential: undefined }, IP, { authorization: `Bearer ${secret}` }),
  );
  assert.deepEqual(none.subject, { ip: IP });
});

test('two keys in conflict: neither is trusted, served as an unknown key', async (t) => {
  const h = await harness(t, {
    policy: { server: { ...testPolicy().server, unauthenticated: 'refuse' } },
  });
  const r = refusalOf(h.identifyWith({ credential: { conflict: BEARER } }));
  assert.equal(r.rule, 'key-unknown');
});

test('which key origins have their credential stripped before forwarding', async (t) => {
  const h = await harness(t, {
    accounts: [{ id: 'acme', plan: 'standard', size: 0 }],
    keys: { own: { account: 'acme' }, imported: { account: 'acme', origin: 'imported' } },
  });
  const read = (name: string) => ({
    credential: { credential: h.secrets[name]!.secret, sources: BEARER },
  });
  assert.deepEqual(callerOf(h.identifyWith(read('own'))).stripCredential, BEARER);
  assert.equal(callerOf(h.identifyWith(read('imported'))).stripCredential, undefined);
});

test("a delegate that failed (onFailure: anonymous): served as no key, a block and 'refuse' still apply", async (t) => {
  const h = await harness(t, {
    policy: { server: { ...testPolicy().server, unauthenticated: 'refuse' } },
  });
  const input: IdentifyInput = {
    credential: { credential: 'partner-token', sources: BEARER },
    delegated: { kind: 'failed' },
  };
  assert.equal(refusalOf(h.identifyWith(input)).rule, 'key-missing');
  h.block({
    until: T0 + 1_000,
    reason: 'ignoring 429',
    actor: 'sluice',
    earnedBy: { keyId: 'K1', accountId: 'acme' },
  });
  assert.equal(refusalOf(h.identifyWith(input)).rule, 'ip-blocked');
});

test('a delegated account: its plan, size, scope and stripping; only a block its account earned refuses it', async (t) => {
  const strip = { sluice: true, imported: false, delegated: true };
  const base = testPolicy();
  const h = await harness(t, {
    policy: {
      ip: { ...base.ip, sharedEgress: ['198.51.100.0/24'] },
      identity: { ...base.identity, stripCredential: strip },
    },
  });
  const input = (plan: string): IdentifyInput => ({
    credential: { credential: 'partner-token', sources: BEARER },
    delegated: { kind: 'account', account: { id: 'acme', size: 4, plan } },
  });
  const who = callerOf(h.identifyWith(input('tiny')));
  assert.deepEqual(who.account, { id: 'acme', size: 4, plan: 'tiny' });
  assert.equal(who.plan?.name, 'tiny');
  assert.deepEqual(who.subject, { accountId: 'acme', ip: IP });
  assert.equal(who.ipScope, IP);
  assert.deepEqual(who.stripCredential, BEARER);
  const unknownPlan = callerOf(h.identifyWith(input('retired-plan')));
  assert.deepEqual(unknownPlan.account, { id: 'acme', size: 4, plan: 'standard' });
  assert.equal(unknownPlan.plan?.name, 'standard');
  assert.equal(
    callerOf(h.identifyWith(input('tiny'), '198.51.100.20')).ipScope,
    '198.51.100.20#acme',
  );

  h.block({
    until: T0 + 60_000,
    reason: 'ignoring 429',
    actor: 'sluice',
    earnedBy: { keyId: 'K1', accountId: 'other' },
  });
  assert.equal(
    callerOf(h.identifyWith(input('tiny'))).account?.id,
    'acme',
    'another account earned it',
  );
  h.block({
    until: T0 + 60_000,
    reason: 'ignoring 429',
    actor: 'sluice',
    earnedBy: { keyId: 'K2', accountId: 'acme' },
  });
  const r = refusalOf(h.identifyWith(input('tiny')));
  assert.equal(r.rule, 'ip-blocked');
  assert.equal((r.counters as { earnedByKey?: string }).earnedByKey, 'K2');
  // A delegate that does not know the credential: an unknown key, refused by the block.
  assert.equal(
    refusalOf(
      h.identifyWith({ credential: input('tiny').credential, delegated: { kind: 'unknown' } }),
    ).rule,
    'ip-blocked',
  );
});

test('a delegated account keeps the credential when the policy does not strip delegated ones', async (t) => {
  const h = await harness(t);
  const who = callerOf(
    h.identifyWith({
      credential: { credential: 'partner-token', sources: BEARER },
      delegated: { kind: 'account', account: { id: 'acme', size: 0, plan: 'standard' } },
    }),
  );
  assert.equal(who.stripCredential, undefined);
});
