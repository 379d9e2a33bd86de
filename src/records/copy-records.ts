/**
 * Copying one node's records into another store (`sluice records copy`): what a
 * standalone gateway recorded in its `sluice.db` (accounts, keys with their status,
 * IP blocks, incidents, the audit trail, the bulk-export ledger) carried into the records
 * every node shares once the policy says `store.redis`, so moving to several nodes loses
 * no key, no revocation and no reference a partner was given.
 *
 * Planned first, then written: a key id or key hash the target already holds for
 * something else, or an account it holds with another plan or size, refuses the whole
 * copy with every conflict listed, before anything is written. Idempotent: what the
 * target already has is left alone (a key whose status changed on either side keeps the
 * newer status), so copying twice changes nothing the second time and says so.
 *
 * @example
 * const plan = await planCopy(source, target, clock.now());
 * if (plan.conflicts.length === 0) await writeCopy(target, plan);
 */
import { type Problem, SluiceError } from '../core/errors.ts';
import type { Account, ApiKeyRecord, AuditEntry, Incident, IpBlock } from '../core/records.ts';
import type { RecordStore } from '../store/types.ts';

/** How far back the bulk-export ledger is read: longer than any period a policy sets. */
export const BULK_LOOKBACK_MS = 400 * 24 * 3_600_000;

/** Incidents are saved in batches of this many (one transaction or script each). */
const INCIDENT_BATCH = 500;

export interface CopyPlan {
  readonly accounts: readonly Account[];
  /** Keys the target does not have (written with `importKeys`: all or nothing). */
  readonly newKeys: readonly ApiKeyRecord[];
  /** Keys the target has with an older status than the source's. */
  readonly newerStatus: readonly ApiKeyRecord[];
  readonly ipBlocks: readonly IpBlock[];
  readonly incidents: readonly Incident[];
  readonly audit: readonly AuditEntry[];
  readonly bulkExports: readonly { owner: string; dataset: string; at: number }[];
  /** What the target already had, by kind. */
  readonly unchanged: Readonly<Record<CopyKind, number>>;
  readonly conflicts: readonly Problem[];
}

export type CopyKind = 'accounts' | 'keys' | 'ipBlocks' | 'incidents' | 'audit' | 'bulkExports';

/** Reads both stores and decides what to write; writes nothing. */
export async function planCopy(
  source: RecordStore,
  target: RecordStore,
  now: number,
): Promise<CopyPlan> {
  const conflicts: Problem[] = [];
  const conflict = (path: string, message: string) => conflicts.push({ path, message });
  const unchanged: Record<CopyKind, number> = {
    accounts: 0,
    keys: 0,
    ipBlocks: 0,
    incidents: 0,
    audit: 0,
    bulkExports: 0,
  };

  // Each side is listed once (a few calls, not one or two per record: the target is
  // often Redis, across the network).
  const accountsThere = new Map((await target.listAccounts()).map((a) => [a.id, a]));
  const keysThere = await target.listKeys();
  const keysById = new Map(keysThere.map((k) => [k.id, k]));
  const keysByHash = new Map(keysThere.map((k) => [k.hash, k]));

  const accounts: Account[] = [];
  const sourceAccounts = await source.listAccounts();
  for (const a of sourceAccounts) {
    const there = accountsThere.get(a.id);
    if (there === undefined) accounts.push(a);
    else if (there.plan === a.plan && there.size === a.size) unchanged.accounts++;
    else {
      conflict(
        `account ${a.id}`,
        `the target has it with plan ${there.plan || '(default)'}, size ${there.size}; the source with plan ${a.plan || '(default)'}, size ${a.size}`,
      );
    }
  }

  const newKeys: ApiKeyRecord[] = [];
  const newerStatus: ApiKeyRecord[] = [];
  for (const k of await source.listKeys()) {
    const byId = keysById.get(k.id);
    const byHash = keysByHash.get(k.hash);
    if (byId !== undefined && byId.hash !== k.hash) {
      conflict(`key ${k.id}`, 'the target has another key under this id');
    } else if (byId === undefined && byHash !== undefined) {
      conflict(
        `key ${k.id}`,
        `the target has the same key as key ${byHash.id} of account ${byHash.accountId}`,
      );
    } else if (byId !== undefined && byId.accountId !== k.accountId) {
      conflict(
        `key ${k.id}`,
        `the target has it for account ${byId.accountId}, the source for ${k.accountId}`,
      );
    } else if (byId === undefined) newKeys.push(k);
    else if (k.updatedAt > byId.updatedAt && !sameStatus(k, byId)) newerStatus.push(k);
    else unchanged.keys++;
  }

  const ipBlocks: IpBlock[] = [];
  const blocksThere = new Map((await target.listIpBlocks()).map((b) => [b.ip, b]));
  for (const b of await source.listIpBlocks()) {
    const there = blocksThere.get(b.ip);
    // The later decision about an address stands (a block lifted and set again, or renewed).
    if (there === undefined || b.createdAt > there.createdAt) ipBlocks.push(b);
    else unchanged.ipBlocks++;
  }

  const incidentsThere = new Set((await target.listIncidents()).map((i) => i.reference));
  const incidents: Incident[] = [];
  for (const i of await source.listIncidents()) {
    if (!incidentsThere.has(i.reference)) incidents.push(i);
    else unchanged.incidents++;
  }

  const auditThere = new Set((await target.listAudit()).map(auditKey));
  const audit: AuditEntry[] = [];
  // Oldest first, so the target's trail keeps the order in which things happened.
  for (const e of (await source.listAudit()).reverse()) {
    if (auditThere.has(auditKey(e))) unchanged.audit++;
    else audit.push(e);
  }

  const bulkExports: { owner: string; dataset: string; at: number }[] = [];
  for (const a of sourceAccounts) {
    const there = new Set(
      (await target.listBulkExports(a.id, now - BULK_LOOKBACK_MS)).map(
        (x) => `${x.dataset} ${x.at}`,
      ),
    );
    for (const x of await source.listBulkExports(a.id, now - BULK_LOOKBACK_MS)) {
      if (there.has(`${x.dataset} ${x.at}`)) unchanged.bulkExports++;
      else bulkExports.push({ owner: a.id, dataset: x.dataset, at: x.at });
    }
  }

  return {
    accounts,
    newKeys,
    newerStatus,
    ipBlocks,
    incidents,
    audit,
    bulkExports,
    unchanged,
    conflicts,
  };
}

/** Writes a plan without conflicts into `target`. */
export async function writeCopy(target: RecordStore, plan: CopyPlan): Promise<void> {
  if (plan.conflicts.length > 0) throw copyConflict(plan.conflicts);
  // Accounts, new keys and the trail in one write: a key never arrives without its account.
  if (plan.accounts.length + plan.newKeys.length + plan.audit.length > 0) {
    await target.importKeys({ accounts: plan.accounts, keys: plan.newKeys, audit: plan.audit });
  }
  for (const k of plan.newerStatus) await target.putKey(k);
  for (const b of plan.ipBlocks) await target.putIpBlock(b);
  for (let i = 0; i < plan.incidents.length; i += INCIDENT_BATCH) {
    await target.saveIncidents(plan.incidents.slice(i, i + INCIDENT_BATCH));
  }
  for (const x of plan.bulkExports) {
    // Recorded at its own time, with no limit: nothing is refused, and nothing within the
    // lookback is forgotten (a take forgets the exports older than its period).
    await target.takeBulkExport(
      x.owner,
      x.dataset,
      x.at,
      Number.POSITIVE_INFINITY,
      BULK_LOOKBACK_MS,
    );
  }
}

/** The error a copy with conflicts throws, every conflict listed; nothing is written. */
export function copyConflict(problems: readonly Problem[]): SluiceError {
  const n = problems.length;
  return new SluiceError(
    'SLUICE_ERR_COPY_CONFLICT',
    `${n} record${n === 1 ? '' : 's'} of the source conflict with the target's; nothing was copied`,
    { problems: [...problems], exitCode: 1 },
  );
}

function sameStatus(a: ApiKeyRecord, b: ApiKeyRecord): boolean {
  return a.status === b.status && a.suspendedUntil === b.suspendedUntil;
}

/** An audit entry's identity: the trail has no ids that survive a store. */
function auditKey(e: AuditEntry): string {
  const s = e.subject;
  return JSON.stringify([
    e.at,
    e.actor,
    e.action,
    s.accountId,
    s.keyId,
    s.ip,
    e.reason,
    e.reference,
  ]);
}
