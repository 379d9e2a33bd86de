/**
 * The record store in memory: for unit tests, and as the second implementation that
 * pins the contract's semantics (test/contract/record-store.contract.ts) beside SQLite.
 * Nothing survives the process.
 *
 * Semantics shared by every record store:
 * - every `putAccount`, `putKey`, `putIpBlock` and `deleteIpBlock` that lifts a block
 *   bumps one change sequence; `keyChangesSince(seq)` returns the keys changed after
 *   `seq` and the current sequence, so a cache that sees the sequence move also knows to
 *   reread accounts and IP blocks; `changesSince(seq)` returns every key, account and IP
 *   block put, and every IP lifted, after `seq` (each once, latest state);
 * - IP blocks are keyed by the IP string as given (callers canonicalise it); expired
 *   blocks stay until deleted or pruned; `listIpBlocks` orders by IP;
 * - incidents are keyed by their canonical reference; `saveIncidents` replaces whole
 *   incidents; `listIncidents` lists those active at or after `since` (`endedAt ≥ since`),
 *   most recently active first;
 * - `listAudit` lists newest first (by `at`, then by order of appending).
 * - `takeBulkExport` keeps a sliding log per (owner, dataset): exports with
 *   `at > now - periodMs` count, at most `limit` of them are recorded, a refusal records
 *   nothing, and exports at or before `now - periodMs` are forgotten when that pair is
 *   next asked about (so the log holds at most `limit` entries per pair).
 * - without `limit`, lists are complete.
 */

import { bulkVerdict } from '../core/limiter/bulk-log.ts';
import type {
  Account,
  ApiKeyRecord,
  AuditEntry,
  BulkExportVerdict,
  Incident,
  IpBlock,
  KeyImportBatch,
} from '../core/records.ts';
import { normalizeReference } from '../core/reference.ts';
import type { RecordChanges, RecordStore } from './types.ts';

/**
 * @example
 * const store = new MemoryRecordStore();
 * store.putAccount({ id: 'acme', size: 10, plan: 'standard', createdAt: now });
 */
export class MemoryRecordStore implements RecordStore {
  readonly #accounts = new Map<string, Account>();
  readonly #keys = new Map<string, { key: ApiKeyRecord; seq: number }>();
  /** Key id by hash: the gateway looks keys up by hash on every request. */
  readonly #byHash = new Map<string, string>();
  readonly #ipBlocks = new Map<string, IpBlock>();
  /** The sequence of each account's and block's last change, and of each lift. */
  readonly #accountSeq = new Map<string, number>();
  readonly #blockSeq = new Map<string, number>();
  readonly #lifted = new Map<string, number>();
  readonly #incidents = new Map<string, Incident>();
  readonly #audit: AuditEntry[] = [];
  /** Export times by owner, then dataset, oldest first (nested: no separator to escape). */
  readonly #bulk = new Map<string, Map<string, number[]>>();
  #seq = 0;

  putAccount(account: Account): void {
    this.#accounts.set(account.id, { ...account });
    this.#accountSeq.set(account.id, ++this.#seq);
  }

  getAccount(id: string): Account | undefined {
    return this.#accounts.get(id);
  }

  listAccounts(): Account[] {
    return [...this.#accounts.values()].sort((a, b) => compare(a.id, b.id));
  }

  putKey(key: ApiKeyRecord): void {
    const old = this.#keys.get(key.id)?.key;
    if (old !== undefined) this.#byHash.delete(old.hash);
    this.#keys.set(key.id, { key: { ...key }, seq: ++this.#seq });
    this.#byHash.set(key.hash, key.id);
  }

  importKeys(batch: KeyImportBatch): void {
    // All or nothing, as the SQLite store's transaction: check first, then write.
    const hashes = new Map<string, string>();
    for (const k of batch.keys) {
      const holder = this.#byHash.get(k.hash) ?? hashes.get(k.hash);
      if (holder !== undefined && holder !== k.id) {
        throw new Error(`key ${k.id}: its hash is already the hash of key ${holder}`);
      }
      hashes.set(k.hash, k.id);
    }
    this.#seq++;
    for (const a of batch.accounts) this.putAccount(a);
    for (const k of batch.keys) this.putKey(k);
    for (const entry of batch.audit) this.appendAudit(entry);
  }

  getKey(id: string): ApiKeyRecord | undefined {
    return this.#keys.get(id)?.key;
  }

  findKeyByHash(hash: string): ApiKeyRecord | undefined {
    const id = this.#byHash.get(hash);
    return id === undefined ? undefined : this.getKey(id);
  }

  listKeys(accountId?: string): ApiKeyRecord[] {
    return [...this.#keys.values()]
      .map((k) => k.key)
      .filter((k) => accountId === undefined || k.accountId === accountId)
      .sort((a, b) => compare(a.accountId, b.accountId) || a.createdAt - b.createdAt);
  }

  keyChangesSince(seq: number): { seq: number; keys: ApiKeyRecord[] } {
    return { seq: Math.max(seq, this.#seq), keys: this.#keysAfter(seq) };
  }

  #keysAfter(seq: number): ApiKeyRecord[] {
    const changed = [...this.#keys.values()]
      .filter((k) => k.seq > seq)
      .sort((a, b) => a.seq - b.seq);
    return changed.map((k) => k.key);
  }

  changesSince(seq: number): RecordChanges {
    const after = <T>(records: Map<string, T>, seqs: Map<string, number>): T[] =>
      [...seqs]
        .filter(([, s]) => s > seq)
        .sort((a, b) => a[1] - b[1])
        .map(([id]) => records.get(id) as T);
    const lifted = [...this.#lifted].filter(([, s]) => s > seq).sort((a, b) => a[1] - b[1]);
    return {
      seq: Math.max(seq, this.#seq),
      keys: this.#keysAfter(seq),
      accounts: after(this.#accounts, this.#accountSeq),
      ipBlocks: after(this.#ipBlocks, this.#blockSeq),
      liftedIps: lifted.map(([ip]) => ip),
    };
  }

  putIpBlock(block: IpBlock): void {
    this.#ipBlocks.set(block.ip, { ...block });
    this.#blockSeq.set(block.ip, ++this.#seq);
    this.#lifted.delete(block.ip);
  }

  deleteIpBlock(ip: string): boolean {
    if (!this.#ipBlocks.delete(ip)) return false;
    this.#blockSeq.delete(ip);
    this.#lifted.set(ip, ++this.#seq);
    return true;
  }

  pruneIpBlocks(before: number): number {
    let pruned = 0;
    for (const [ip, block] of this.#ipBlocks) {
      if (block.until !== undefined && block.until < before && this.#ipBlocks.delete(ip)) {
        this.#blockSeq.delete(ip);
        pruned++;
      }
    }
    return pruned;
  }

  listIpBlocks(): IpBlock[] {
    return [...this.#ipBlocks.values()].sort((a, b) => compare(a.ip, b.ip));
  }

  saveIncidents(incidents: readonly Incident[]): void {
    for (const incident of incidents) {
      const reference = normalizeReference(incident.reference) ?? incident.reference;
      this.#incidents.set(reference, { ...incident, reference });
    }
  }

  getIncident(reference: string): Incident | undefined {
    const canonical = normalizeReference(reference);
    return canonical === undefined ? undefined : this.#incidents.get(canonical);
  }

  listIncidents(options: { limit?: number; since?: number; accountId?: string } = {}): Incident[] {
    const since = options.since ?? Number.NEGATIVE_INFINITY;
    const account = options.accountId;
    return [...this.#incidents.values()]
      .filter(
        (i) => i.endedAt >= since && (account === undefined || i.subject.accountId === account),
      )
      .sort((a, b) => b.endedAt - a.endedAt || compare(a.reference, b.reference))
      .slice(0, options.limit);
  }

  appendAudit(entry: AuditEntry): void {
    this.#audit.push({ ...entry });
  }

  listAudit(options: { limit?: number; keyId?: string } = {}): AuditEntry[] {
    const { keyId } = options;
    // Newest first; entries with the same time in reverse order of appending.
    return this.#audit
      .map((entry, i) => ({ entry, i }))
      .filter(({ entry }) => keyId === undefined || entry.subject.keyId === keyId)
      .sort((a, b) => b.entry.at - a.entry.at || b.i - a.i)
      .map(({ entry }) => entry)
      .slice(0, options.limit);
  }

  listBulkExports(owner: string, since: number): { dataset: string; at: number }[] {
    const out: { dataset: string; at: number }[] = [];
    for (const [dataset, ats] of this.#bulk.get(owner) ?? []) {
      for (const at of ats) if (at > since) out.push({ dataset, at });
    }
    return out.sort((a, b) => a.at - b.at || compare(a.dataset, b.dataset));
  }

  takeBulkExport(
    owner: string,
    dataset: string,
    now: number,
    limit: number,
    periodMs: number,
  ): BulkExportVerdict {
    const datasets = this.#bulk.get(owner) ?? new Map<string, number[]>();
    // Only exports still in the window are kept: the rest never count again.
    const counted = (datasets.get(dataset) ?? []).filter((at) => at > now - periodMs);
    const verdict = bulkVerdict(counted, limit, periodMs);
    if (verdict.allowed) {
      // Callers' clocks need not agree: keep the log oldest first whatever `now` is.
      counted.splice(counted.findLastIndex((at) => at <= now) + 1, 0, now);
    }
    if (counted.length > 0) datasets.set(dataset, counted);
    else datasets.delete(dataset);
    if (datasets.size > 0) this.#bulk.set(owner, datasets);
    else this.#bulk.delete(owner);
    return verdict;
  }

  close(): void {}
}

/** Plain code-unit order, the same as SQLite's default BINARY collation. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
