/**
 * Importing existing API keys (`sluice keys import`, `POST /admin/keys/import`): the
 * parsed lines (core/key-import-file.ts) become one batch the store writes in one
 * transaction. Idempotent: a key whose hash is already stored for the same account is
 * left alone, an account whose size and plan already match is not rewritten, so
 * importing the same file twice changes nothing the second time and says so.
 * Transactional: a key already registered to another account (or given for two
 * accounts in the file) rejects the whole file with its line number, and nothing is
 * written. Imported keys get a public id like sluice's own (10 Crockford characters,
 * random): logs, incidents and `X-Sluice-Key-Id` show that, never the key.
 *
 * @example
 * const result = await importKeys({ store, now: clock.now() }, parseKeyImport(text), 'cli:alice');
 * result.imported; // keys added
 */
import { randomBytes } from 'node:crypto';
import { type Problem, SluiceError } from '../core/errors.ts';
import type { ImportLine } from '../core/key-import-file.ts';
import type { Account, ApiKeyRecord, AuditEntry } from '../core/records.ts';
import { encodeCrockford } from '../core/reference.ts';
import type { RecordsContext } from './context.ts';

/** Size of an account the file creates without a size (as `sluice keys create`). */
const DEFAULT_SIZE = 1;

export interface KeyImportResult {
  /** Keys added, with their new ids (never the key or its hash). */
  readonly imported: readonly {
    readonly id: string;
    readonly account: string;
    readonly line: number;
  }[];
  /** Lines whose key was already there for the same account (or earlier in the file). */
  readonly unchanged: number;
  readonly accountsCreated: readonly string[];
  readonly accountsUpdated: readonly string[];
  /** Plans named in the file, in the order first seen (for the caller to check). */
  readonly plans: readonly string[];
}

/**
 * Plans and writes the import; throws `SLUICE_ERR_IMPORT_CONFLICT` (listing every line
 * in conflict) without writing anything.
 */
export async function importKeys(
  ctx: RecordsContext,
  lines: readonly ImportLine[],
  actor: string,
): Promise<KeyImportResult> {
  const problems: Problem[] = [];
  // Per account: as stored (if it was), and the size and plan the file states.
  const accounts = new Map<
    string,
    {
      old: Account | undefined;
      size?: { value: number; line: number };
      plan?: { value: string; line: number };
    }
  >();
  const seen = new Map<string, { account: string; line: number }>();
  const keys: ApiKeyRecord[] = [];
  const imported: { id: string; account: string; line: number }[] = [];
  const ids = new Set<string>();
  let unchanged = 0;

  for (const l of lines) {
    const conflict = (message: string) => problems.push({ path: '', line: l.line, message });
    let entry = accounts.get(l.account);
    if (entry === undefined) {
      entry = { old: await ctx.store.getAccount(l.account) };
      accounts.set(l.account, entry);
    }
    if (l.size !== undefined) {
      if (entry.size !== undefined && entry.size.value !== l.size) {
        conflict(
          `account ${l.account} has size ${entry.size.value} on line ${entry.size.line} and ${l.size} here`,
        );
      }
      entry.size ??= { value: l.size, line: l.line };
    }
    if (l.plan !== undefined) {
      if (entry.plan !== undefined && entry.plan.value !== l.plan) {
        conflict(
          `account ${l.account} has plan ${entry.plan.value} on line ${entry.plan.line} and ${l.plan} here`,
        );
      }
      entry.plan ??= { value: l.plan, line: l.line };
    }

    const before = seen.get(l.hash);
    if (before !== undefined) {
      if (before.account === l.account) unchanged++;
      else conflict(`the same key is given for account ${before.account} on line ${before.line}`);
      continue;
    }
    seen.set(l.hash, { account: l.account, line: l.line });
    const stored = await ctx.store.findKeyByHash(l.hash);
    if (stored !== undefined) {
      if (stored.accountId === l.account) unchanged++;
      else {
        conflict(
          `this key is already registered as key ${stored.id} of account ${stored.accountId} (revoke it there first, or fix the account)`,
        );
      }
      continue;
    }
    let id = newKeyId();
    while (ids.has(id) || (await ctx.store.getKey(id)) !== undefined) id = newKeyId();
    ids.add(id);
    keys.push({
      id,
      accountId: l.account,
      hash: l.hash,
      status: 'active',
      suspendedUntil: undefined,
      createdAt: ctx.now,
      updatedAt: ctx.now,
      reason: undefined,
      origin: 'imported',
    });
    imported.push({ id, account: l.account, line: l.line });
  }
  if (problems.length > 0) {
    const n = problems.length;
    throw new SluiceError(
      'SLUICE_ERR_IMPORT_CONFLICT',
      `${n} line${n === 1 ? '' : 's'} of the import conflict with keys already registered; nothing was imported`,
      { problems, exitCode: 1 },
    );
  }

  const audit: AuditEntry[] = [];
  const changedAccounts: Account[] = [];
  const accountsCreated: string[] = [];
  const accountsUpdated: string[] = [];
  for (const [id, { old, size, plan }] of accounts) {
    const account: Account = {
      id,
      size: size?.value ?? old?.size ?? DEFAULT_SIZE,
      plan: plan?.value ?? old?.plan ?? '',
      createdAt: old?.createdAt ?? ctx.now,
    };
    if (old !== undefined && old.size === account.size && old.plan === account.plan) continue;
    changedAccounts.push(account);
    (old === undefined ? accountsCreated : accountsUpdated).push(id);
    audit.push({
      at: ctx.now,
      actor,
      action: old === undefined ? 'account-create' : 'account-update',
      subject: { accountId: id },
      reason:
        old === undefined
          ? `size ${account.size}, plan ${account.plan || '(default)'} (sluice keys import)`
          : `size ${old.size} → ${account.size}, plan ${old.plan || '(default)'} → ${account.plan || '(default)'} (sluice keys import)`,
      reference: undefined,
    });
  }
  for (const k of keys) {
    audit.push({
      at: ctx.now,
      actor,
      action: 'key-import',
      subject: { accountId: k.accountId, keyId: k.id },
      reason: 'imported with sluice keys import',
      reference: undefined,
    });
  }
  if (keys.length > 0 || changedAccounts.length > 0) {
    await ctx.store.importKeys({ accounts: changedAccounts, keys, audit });
    for (const k of keys) ctx.keyChanged?.(k);
  }
  const plans = [...new Set(lines.flatMap((l) => (l.plan === undefined ? [] : [l.plan])))];
  return { imported, unchanged, accountsCreated, accountsUpdated, plans };
}

/** A public key id: 10 Crockford characters (50 random bits), like `sluice keys create`'s. */
function newKeyId(): string {
  return encodeCrockford(randomBytes(7), 10);
}
