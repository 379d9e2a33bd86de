/**
 * The two store interfaces. Every implementation (memory, sqlite, redis) passes one
 * contract suite in test/contract/. The words they keep (records, limiter results) are
 * the core's (core/records.ts, core/limiter/types.ts): stores depend on the core, never
 * the other way round; `LimitStore` itself is the engine's port, defined beside the
 * limiter maths and re-exported here.
 *
 * - `LimitStore` holds hot limiter state (GCRA arrival times, window counters). It
 *   applies the pure maths of src/core/limiter atomically per key; a memory store may
 *   answer synchronously, a Redis store answers with a promise (Lua script).
 * - `RecordStore` holds what must survive restarts: accounts, API keys (hashes only),
 *   IP blocks, incidents, the audit trail and the bulk-export ledger.
 */
export type { LimitStore } from '../core/limiter/types.ts';

import type { MaybePromise } from '../core/maybe-async.ts';
import type {
  Account,
  ApiKeyRecord,
  AuditEntry,
  BulkExportVerdict,
  Incident,
  IpBlock,
  KeyImportBatch,
} from '../core/records.ts';

/** What `RecordStore.changesSince` returns. */
export interface RecordChanges {
  seq: number;
  keys: ApiKeyRecord[];
  accounts: Account[];
  ipBlocks: IpBlock[];
  /** IPs whose block was lifted after the sequence (and not put back since). */
  liftedIps: string[];
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
  /**
   * Writes an import in one transaction: the accounts (inserted or replaced), the new
   * keys and the audit entries, or nothing at all when any of it fails (for example a
   * key whose hash another key already has: hashes are unique). Moves the change
   * sequence like the single puts.
   */
  importKeys(batch: KeyImportBatch): MaybePromise<void>;
  keyChangesSince(seq: number): MaybePromise<{ seq: number; keys: ApiKeyRecord[] }>;
  /**
   * Every record a cache holds that changed after `seq` (keys, accounts, IP blocks put,
   * IP blocks lifted), each once in its latest state, with the newest sequence number;
   * `changesSince(0)` returns them all. Costs the rows changed, not the rows stored, so a
   * cache following a large store pays for a revocation, not for a reread. A block that
   * was pruned (`pruneIpBlocks`) is not reported: it had ended, it blocks nothing.
   */
  changesSince(seq: number): MaybePromise<RecordChanges>;

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
  /**
   * Incidents active at or after `since` (`endedAt ≥ since`), most recently active first;
   * with `accountId`, only that account's (indexed: what a partner's usage page reads).
   */
  listIncidents(options?: {
    limit?: number;
    since?: number;
    accountId?: string;
  }): MaybePromise<Incident[]>;

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

  /**
   * The bulk exports of `owner` after `since` (`at > since`), every dataset, oldest
   * first: what its usage page shows. Reads only; nothing is taken.
   */
  listBulkExports(
    owner: string,
    since: number,
  ): MaybePromise<{ readonly dataset: string; readonly at: number }[]>;

  /**
   * Optional: calls `listener` as soon as a record changes anywhere (the Redis store's
   * pub/sub), a nudge for caches to read `changesSince` now rather than at their next
   * poll. Returns the function that stops it. Stores without it are only polled.
   *
   * @example
   * const unwatch = store.watch?.(() => void cache.refresh());
   */
  watch?(listener: () => void): () => void;

  close(): MaybePromise<void>;
}
