/**
 * What an operation on records works with, whoever calls it (`sluice keys`, the admin
 * API, the safeguards): the store, the time of the change, and how this process's own
 * caches learn of it at once.
 */
import type { MaybePromise } from '../core/maybe-async.ts';
import type { ApiKeyRecord } from '../core/records.ts';
import type { RecordStore } from '../store/types.ts';

/**
 * @example
 * const ctx: RecordsContext = {
 *   store,
 *   now: clock.now(),
 *   keyChanged: (key) => identities.putKey(key),
 *   ipBlocksChanged: () => identities.refresh(),
 * };
 */
export interface RecordsContext {
  /** Any record store: its answers may be promises (a store across the network). */
  readonly store: RecordStore;
  /** When the change happens (ms since the epoch): the audit entry's and the record's time. */
  readonly now: number;
  /**
   * Called with a key once its new status is stored. A running gateway passes its
   * identity cache here, so this node applies the change at once instead of at its next
   * poll; the CLI, another process, passes nothing.
   */
  readonly keyChanged?: (key: ApiKeyRecord) => void;
  /** Awaited once an IP block is lifted in the store: the gateway rereads its blocks. */
  readonly ipBlocksChanged?: () => MaybePromise<void>;
}
