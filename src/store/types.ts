/**
 * The two store interfaces. Every implementation (memory, sqlite, redis) passes one
 * contract suite in test/contract/.
 *
 * - `LimitStore` holds hot limiter state (GCRA arrival times, window counters). It
 *   applies the pure maths of src/core/limiter atomically per key; a memory store may
 *   answer synchronously, a Redis store answers with a promise (Lua script).
 * - `RecordStore` holds what must survive restarts: accounts, API keys (hashes only),
 *   IP blocks, incidents, the audit trail and the bulk-export ledger.
 */
import type { RuleId } from '../core/decision.ts';

export type MaybePromise<T> = T | Promise<T>;

export interface GcraParams {
  /** Milliseconds per unit of cost (period / limit). */
  readonly emissionMs: number;
  /** Units of cost that may pass at once. */
  readonly burst: number;
  /** Longest delay the caller accepts; a request needing more is refused and not recorded. */
  readonly maxDelayMs: number;
  /** Quota and window for the RateLimit headers (limit per period). */
  readonly limit: number;
  readonly periodMs: number;
}

export interface GcraResult {
  /** True when the request is admitted (possibly after `delayMs`). */
  readonly allowed: boolean;
  /** How long to hold an admitted request; 0 when it conforms now. */
  readonly delayMs: number;
  /** For a refused request: how long until it would conform without delay. */
  readonly retryAfterMs: number;
  /** Units that could still pass now without delay. */
  readonly remaining: number;
  /** Milliseconds until the full burst is available again. */
  readonly resetMs: number;
}

export interface WindowParams {
  readonly periodMs: number;
  /** Crossing this is recorded and signalled, never refused. */
  readonly warn: number;
  /** Crossing this refuses. */
  readonly block: number;
}

export interface WindowResult {
  readonly allowed: boolean;
  /** Requests in the sliding window, this one included when allowed. */
  readonly count: number;
  /** This request is over the warning threshold. */
  readonly warn: boolean;
  /** …and it is the first warning of the current fixed window (report it). */
  readonly warnFirst: boolean;
  readonly retryAfterMs: number;
  readonly remaining: number;
  readonly resetMs: number;
}

export interface LimitStore {
  gcra(key: string, now: number, cost: number, params: GcraParams): MaybePromise<GcraResult>;
  window(key: string, now: number, cost: number, params: WindowParams): MaybePromise<WindowResult>;
  /**
   * Optional fast paths, the same as `gcra(namespace + id, …)` and `window(namespace + id, …)`
   * (same state), without building a key string per request. The memory store has them;
   * others may not.
   */
  gcraIn?(
    namespace: string,
    id: string,
    now: number,
    cost: number,
    params: GcraParams,
  ): MaybePromise<GcraResult>;
  windowIn?(
    namespace: string,
    id: string,
    now: number,
    cost: number,
    params: WindowParams,
  ): MaybePromise<WindowResult>;
  /**
   * Optional hint that `windowIn(windowNamespace, windowId, …)` and then
   * `gcraIn(gcraNamespace, gcraId, …)` come next. Changes no state: the memory store starts
   * loading both entries at once, so that their cache misses overlap.
   */
  prefetch?(windowNamespace: string, windowId: string, gcraNamespace: string, gcraId: string): void;
  /** Number of keys held (for metrics and eviction tests). */
  size(): MaybePromise<number>;
  close(): MaybePromise<void>;
}

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

export interface AuditEntry {
  readonly at: number;
  /** `sluice` for automatic actions, else who did it (e.g. `cli:alice`). */
  readonly actor: string;
  readonly action: string;
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

export interface RecordStore {
  putAccount(account: Account): MaybePromise<void>;
  getAccount(id: string): MaybePromise<Account | undefined>;
  listAccounts(): MaybePromise<Account[]>;

  putKey(key: ApiKeyRecord): MaybePromise<void>;
  getKey(id: string): MaybePromise<ApiKeyRecord | undefined>;
  findKeyByHash(hash: string): MaybePromise<ApiKeyRecord | undefined>;
  listKeys(accountId?: string): MaybePromise<ApiKeyRecord[]>;
  /**
   * Keys changed after `seq`, with the newest sequence number (for caches on other
   * processes). Account and IP block changes move the same sequence without returning
   * anything here: a cache that sees it move rereads accounts and IP blocks.
   */
  keyChangesSince(seq: number): MaybePromise<{ seq: number; keys: ApiKeyRecord[] }>;

  /** Inserts or replaces the block of `block.ip`; moves the change sequence. */
  putIpBlock(block: IpBlock): MaybePromise<void>;
  /** Lifts the block of `ip`; false (and the sequence unmoved) when there was none. */
  deleteIpBlock(ip: string): MaybePromise<boolean>;
  /** Every block, expired ones included, ordered by IP. */
  listIpBlocks(): MaybePromise<IpBlock[]>;
  /**
   * Deletes the blocks that ended before `before` (never the ones without an end); the
   * number deleted. Leaves the change sequence alone: an expired block already blocks
   * nothing, in any cache.
   */
  pruneIpBlocks(before: number): MaybePromise<number>;

  /** Inserts or updates incidents (by reference) in one transaction. */
  saveIncidents(incidents: readonly Incident[]): MaybePromise<void>;
  /** Case-insensitive; accepts the code with or without dashes. */
  getIncident(reference: string): MaybePromise<Incident | undefined>;
  listIncidents(options?: { limit?: number; since?: number }): MaybePromise<Incident[]>;

  appendAudit(entry: AuditEntry): MaybePromise<void>;
  listAudit(options?: { limit?: number; keyId?: string }): MaybePromise<AuditEntry[]>;

  /**
   * Takes one bulk export of `dataset` for `owner` (an account id, or `ip:<address>`),
   * atomically across every process sharing the store. A sliding log: the exports of
   * (owner, dataset) with `at > now - periodMs` count; with fewer than `limit` of them this
   * one is recorded at `now` and allowed, else it is refused and not recorded, and
   * `nextAllowedAt` is when enough counted exports leave the window (undefined when
   * `limit < 1`: none ever is allowed). Exports that left the window are deleted.
   */
  takeBulkExport(
    owner: string,
    dataset: string,
    now: number,
    limit: number,
    periodMs: number,
  ): MaybePromise<BulkExportVerdict>;

  close(): MaybePromise<void>;
}
