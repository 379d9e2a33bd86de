/**
 * What sluice records and reasons about: accounts and their API keys (hashes only),
 * the subject of a decision (account, key, IP), incidents with their reference codes,
 * the audit trail, IP blocks and bulk-export verdicts. The core owns these words; the
 * record stores (store/) keep them.
 */
import type { RuleId } from './decision.ts';

export interface Account {
  readonly id: string;
  /** Seats, devices…: the number budgets scale with. */
  readonly size: number;
  readonly plan: string;
  readonly createdAt: number;
}

export type KeyStatus = 'active' | 'suspended' | 'revoked';

export interface ApiKeyRecord {
  /** Public id, shown to people and sent upstream; never the secret. */
  readonly id: string;
  readonly accountId: string;
  /** SHA-256 of the whole key, hex. */
  readonly hash: string;
  readonly status: KeyStatus;
  /** For a suspension: when it ends (ms since the epoch). */
  readonly suspendedUntil: number | undefined;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Why the status last changed (reference code or words). */
  readonly reason: string | undefined;
  /** Who last changed the status, as the audit trail names them (`sluice`, `cli:alice`, `admin:dana`). */
  readonly statusBy?: string;
  /**
   * Where the key came from: `sluice` (made by `sluice keys create`; absent means this)
   * or `imported` (an existing key of the API, `sluice keys import`). Decides whether the
   * credential is stripped before forwarding (`identity.stripCredential`).
   */
  readonly origin?: KeyOrigin;
}

/** Where a key came from; see `ApiKeyRecord.origin`. */
export type KeyOrigin = 'sluice' | 'imported';

/**
 * What `RecordStore.importKeys` writes, all or nothing: accounts to create or update,
 * new keys, and the audit entries saying so.
 *
 * @example
 * store.importKeys({ accounts: [acme], keys: [imported], audit: [entry] });
 */
export interface KeyImportBatch {
  readonly accounts: readonly Account[];
  readonly keys: readonly ApiKeyRecord[];
  readonly audit: readonly AuditEntry[];
}

export interface Subject {
  readonly accountId?: string;
  readonly keyId?: string;
  readonly ip?: string;
}

export interface Incident {
  /** Reference code, e.g. `RL-7KQ4-M9XT`. */
  readonly reference: string;
  readonly rule: RuleId | SafeguardRuleId;
  readonly subject: Subject;
  readonly startedAt: number;
  readonly endedAt: number;
  /** Requests the incident covers. */
  readonly count: number;
  /** Counters at the start of the incident. */
  readonly counters: Readonly<Record<string, number | string>>;
  /** Extra words, e.g. "next export allowed 2026-12-21T00:00:00Z". */
  readonly note: string | undefined;
}

/** Safeguard actions are incidents too. */
export type SafeguardRuleId =
  | 'safeguard-auth-failure'
  | 'safeguard-ignoring-429'
  | 'safeguard-malformed-storm'
  | 'safeguard-non-public';

/**
 * The one vocabulary of the audit trail, whoever acts (`sluice keys`, `sluice ips`, the
 * admin API, a safeguard): the thing, then what was done to it. A dry-run safeguard
 * writes what it would have done. Words earlier versions stored read back in these words
 * (`auditActionOf`), so `sluice audit` and `GET /admin/audit` show one vocabulary.
 *
 * @example
 * const action: AuditAction = 'dry-run key-suspend';
 */
export const AUDIT_ACTIONS = [
  'account-create',
  'account-update',
  'key-create',
  'key-import',
  'key-revoke',
  'key-reinstate',
  'key-suspend',
  'block-ip',
  'unblock-ip',
  'dry-run block-ip',
  'dry-run key-suspend',
  'dry-run key-revoke',
] as const;

/**
 * Words earlier versions wrote for the same actions (the admin API and the safeguards
 * said `revoke`, `reinstate`, `suspend` where `sluice keys` said `key-revoke`…): stored
 * rows keep them, readers see the current word.
 */
export const OLD_AUDIT_ACTIONS: Readonly<Record<string, AuditAction>> = {
  revoke: 'key-revoke',
  reinstate: 'key-reinstate',
  suspend: 'key-suspend',
  'dry-run suspend': 'dry-run key-suspend',
  'dry-run revoke': 'dry-run key-revoke',
};

/**
 * The current word of an action as stored, old or new.
 *
 * @example
 * auditActionOf('revoke'); // 'key-revoke'
 * auditActionOf('block-ip'); // 'block-ip'
 */
export function auditActionOf(stored: string): AuditAction {
  return Object.hasOwn(OLD_AUDIT_ACTIONS, stored)
    ? OLD_AUDIT_ACTIONS[stored]
    : (stored as AuditAction);
}

/**
 * The audit action of what a safeguard did (or, in dry-run, would have done).
 *
 * @example
 * safeguardAuditAction('suspend', true); // 'dry-run key-suspend'
 */
export function safeguardAuditAction(
  kind: 'block-ip' | 'suspend' | 'revoke',
  dryRun: boolean,
): AuditAction {
  const word = kind === 'block-ip' ? kind : (`key-${kind}` as const);
  return dryRun ? `dry-run ${word}` : word;
}

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/**
 * Who acts, as the audit trail names them: `sluice` (a safeguard), `cli:<user>`
 * (`sluice keys`, `sluice ips`) or `admin:<name>` (the admin API).
 *
 * @example
 * const actor: Actor = `cli:${process.env.USER ?? 'unknown'}`;
 */
export type Actor = 'sluice' | `cli:${string}` | `admin:${string}`;

export interface AuditEntry {
  readonly at: number;
  /** `sluice` for automatic actions, else who did it (e.g. `cli:alice`). */
  readonly actor: string;
  readonly action: AuditAction;
  readonly subject: Subject;
  readonly reason: string;
  readonly reference: string | undefined;
}

/**
 * An IP address refused by the gateway, by a safeguard (escalating 1h, 1d, 1w…) or by
 * an operator (`sluice ips block`). A block past its `until` is expired: it no longer
 * refuses anything but stays listed until lifted, replaced or pruned (a week after it
 * ended, when a safeguard blocks another IP).
 *
 * @example
 * const block: IpBlock = { ip: '203.0.113.9', until: now + 3_600_000, createdAt: now,
 *   reason: 'kept sending after 429', reference: 'RL-7KQ4-M9XT', actor: 'sluice' };
 */
export interface IpBlock {
  /** One address as the gateway sees it: IPv4 dotted, IPv6 in its canonical (RFC 5952) form. */
  readonly ip: string;
  /** When the block ends (ms since the epoch); undefined: until lifted. */
  readonly until: number | undefined;
  readonly createdAt: number;
  readonly reason: string;
  /** The incident that caused it, if any. */
  readonly reference: string | undefined;
  /** `sluice` for a safeguard, else who did it (e.g. `cli:alice`). */
  readonly actor: string;
  /**
   * The key (and its account) whose behaviour earned a safeguard's block. Such a block
   * refuses that account's keys and requests without a valid key from the IP, but not
   * other accounts' valid keys: partners behind one address do not pay for each other.
   * Absent (keyless behaviour, an operator's block): every request from the IP is refused.
   */
  readonly earnedBy?: { readonly keyId: string; readonly accountId?: string };
}

/**
 * Whether a block refuses a caller: every caller, unless a key's behaviour earned it;
 * then only callers without a valid key and that key's account.
 *
 * @example
 * const block = { ip, until: undefined, createdAt: 0, reason: 'r', reference: undefined,
 *   actor: 'sluice', earnedBy: { keyId: 'k1', accountId: 'acme' } };
 * blockRefuses(block, { keyId: 'k1', accountId: 'acme' }); // true
 * blockRefuses(block, { keyId: 'k9', accountId: 'globex' }); // false
 * blockRefuses(block, undefined); // true: no valid key
 */
export function blockRefuses(
  block: Pick<IpBlock, 'earnedBy'>,
  key: { readonly keyId: string; readonly accountId: string } | undefined,
): boolean {
  const by = block.earnedBy;
  if (by === undefined || key === undefined) return true;
  return by.accountId === undefined ? by.keyId === key.keyId : by.accountId === key.accountId;
}

/**
 * The answer of `RecordStore.takeBulkExport`.
 *
 * @example
 * const v = store.takeBulkExport('acme', 'companies', now, 1, 30 * 86_400_000);
 * // first time: { allowed: true, used: 0, nextAllowedAt: undefined }
 * // again:      { allowed: false, used: 1, nextAllowedAt: now + 30 * 86_400_000 }
 */
export interface BulkExportVerdict {
  readonly allowed: boolean;
  /** Exports counted in the period before this one (this one not included). */
  readonly used: number;
  /** When the next export is allowed if refused (ms since the epoch), else undefined. */
  readonly nextAllowedAt: number | undefined;
}
