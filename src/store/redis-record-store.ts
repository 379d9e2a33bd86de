/**
 * The record store in Redis (one server or a Cluster), for gateways that run as several
 * nodes: accounts, keys (an index by hash), IP blocks, the change sequence, incidents,
 * the audit trail and the bulk-export ledger live once, for every node and every
 * `sluice keys …` run with the same policy. Semantics are the contract's (see
 * memory-record-store.ts); writes are Lua scripts (redis-record-scripts.ts), so a write
 * and the sequence it moves are one atomic step, as a SQLite transaction is.
 *
 * Every key is `<prefix>{records}:…`: one hash tag, so on a Cluster the whole records
 * keyspace sits on one slot (one master) and every multi-key script is legal. The
 * records are small and written rarely next to the limiter's traffic, which is spread
 * by subject; one slot is the price of atomic imports and a single sequence.
 *
 * Every change PUBLISHes the new sequence on `<prefix>{records}:changes`; `watch`
 * subscribes (on a connection of its own) so identity caches on other nodes poll at
 * once instead of at their next tick: a revocation reaches them in milliseconds, the
 * periodic poll stays the reconcile (a message lost while disconnected costs one tick).
 *
 * @example
 * const link = new RedisLink({ url: 'redis://127.0.0.1:6379' }, { timeoutMs: 1000 });
 * const store = new RedisRecordStore(link, 'sluice:', { closeLink: true });
 * await store.findKeyByHash(hashApiKey(secret));
 */
import type { Cluster, Redis } from 'ioredis';
import { SluiceError } from '../core/errors.ts';
import type {
  Account,
  ApiKeyRecord,
  AuditEntry,
  BulkExportVerdict,
  Incident,
  IpBlock,
  KeyImportBatch,
  Subject,
} from '../core/records.ts';
import { auditActionOf } from '../core/records.ts';
import { normalizeReference } from '../core/reference.ts';
import type { RedisLink } from './redis-link.ts';
import {
  BULK_SCRIPT,
  CHANGES_SCRIPT,
  KEY_BY_HASH_SCRIPT,
  LIFT_SCRIPT,
  PRUNE_SCRIPT,
  WRITE_SCRIPT,
} from './redis-record-scripts.ts';
import type { RecordChanges, RecordStore } from './types.ts';

type Script = (...args: (string | number)[]) => Promise<unknown>;
interface ScriptedClient {
  sluiceRecordWrite: Script;
  sluiceRecordLift: Script;
  sluiceRecordPrune: Script;
  sluiceRecordChanges: Script;
  sluiceRecordKeyByHash: Script;
  sluiceRecordBulk: Script;
}

/** One write of the batch script (see WRITE_SCRIPT). */
type WriteOp =
  | { t: 'account'; id: string; v: string }
  | { t: 'key'; id: string; hash: string; v: string; unique?: boolean }
  | { t: 'block'; ip: string; until?: number; v: string }
  | { t: 'audit'; at: number; keyId?: string; v: string }
  | { t: 'incident'; ref: string; endedAt: number; account?: string; v: string };

export class RedisRecordStore implements RecordStore {
  readonly link: RedisLink;
  /** Where the records are, for messages: `redis <url> (prefix sluice:)`. */
  readonly where: string;
  /** `<prefix>{records}:`, the start of every key. */
  readonly #base: string;
  readonly #seqKey: string;
  readonly #scripts: ScriptedClient;
  readonly #closeLink: boolean;
  #subscriber: Redis | Cluster | undefined;
  readonly #watchers = new Set<() => void>();

  /** `closeLink`: `close()` also closes the link (a store that owns its connection). */
  constructor(
    link: RedisLink,
    prefix: string,
    options: { closeLink?: boolean; where?: string } = {},
  ) {
    this.link = link;
    this.#base = `${prefix}{records}:`;
    this.#seqKey = `${this.#base}seq`;
    this.#closeLink = options.closeLink ?? false;
    this.where = options.where ?? `redis (prefix ${prefix})`;
    const client = link.client;
    // defineCommand is per client: a second store on the link reuses the scripts.
    if (!('sluiceRecordWrite' in client)) {
      const define = (name: string, lua: string, keys: number) =>
        client.defineCommand(name, { numberOfKeys: keys, lua });
      define('sluiceRecordWrite', WRITE_SCRIPT, 1);
      define('sluiceRecordLift', LIFT_SCRIPT, 1);
      define('sluiceRecordPrune', PRUNE_SCRIPT, 1);
      define('sluiceRecordChanges', CHANGES_SCRIPT, 1);
      define('sluiceRecordKeyByHash', KEY_BY_HASH_SCRIPT, 1);
      define('sluiceRecordBulk', BULK_SCRIPT, 3);
    }
    this.#scripts = client as unknown as ScriptedClient;
  }

  async putAccount(account: Account): Promise<void> {
    await this.#write('save account', [accountOp(account)]);
  }

  async getAccount(id: string): Promise<Account | undefined> {
    const v = await this.#call('read account', () => this.#client.hget(this.#k('accounts'), id));
    return v === null ? undefined : toAccount(v);
  }

  async listAccounts(): Promise<Account[]> {
    const all = await this.#call('list accounts', () => this.#client.hvals(this.#k('accounts')));
    return all.map(toAccount).sort((a, b) => compare(a.id, b.id));
  }

  async putKey(key: ApiKeyRecord): Promise<void> {
    await this.#write('save key', [keyOp(key)]);
  }

  async importKeys(batch: KeyImportBatch): Promise<void> {
    // One script: a hash already taken refuses the whole batch before anything is written.
    await this.#write('import keys', [
      ...batch.accounts.map(accountOp),
      ...batch.keys.map((k) => ({ ...keyOp(k), unique: true })),
      ...batch.audit.map(auditOp),
    ]);
  }

  async getKey(id: string): Promise<ApiKeyRecord | undefined> {
    const v = await this.#call('read key', () => this.#client.hget(this.#k('keys'), id));
    return v === null ? undefined : toKey(v);
  }

  async findKeyByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    const v = await this.#call('find key', () =>
      this.#scripts.sluiceRecordKeyByHash(this.#seqKey, this.#base, hash),
    );
    return typeof v === 'string' ? toKey(v) : undefined;
  }

  async listKeys(accountId?: string): Promise<ApiKeyRecord[]> {
    const all = await this.#call('list keys', () => this.#client.hvals(this.#k('keys')));
    return all
      .map(toKey)
      .filter((k) => accountId === undefined || k.accountId === accountId)
      .sort(
        (a, b) =>
          compare(a.accountId, b.accountId) || a.createdAt - b.createdAt || compare(a.id, b.id),
      );
  }

  async keyChangesSince(seq: number): Promise<{ seq: number; keys: ApiKeyRecord[] }> {
    const changes = await this.#changes(seq, true);
    return { seq: changes.seq, keys: changes.keys };
  }

  changesSince(seq: number): Promise<RecordChanges> {
    return this.#changes(seq, false);
  }

  async #changes(seq: number, keysOnly: boolean): Promise<RecordChanges> {
    const out = (await this.#call('read changes', () =>
      this.#scripts.sluiceRecordChanges(this.#seqKey, this.#base, seq, keysOnly ? '1' : '0'),
    )) as [string, string[], string[], string[], string[]];
    return {
      seq: Math.max(seq, Number(out[0])),
      keys: out[1].map(toKey),
      accounts: out[2].map(toAccount),
      ipBlocks: out[3].map(toIpBlock),
      liftedIps: out[4],
    };
  }

  async putIpBlock(block: IpBlock): Promise<void> {
    await this.#write('save IP block', [
      { t: 'block', ip: block.ip, until: block.until, v: JSON.stringify(block) },
    ]);
  }

  async deleteIpBlock(ip: string): Promise<boolean> {
    const lifted = await this.#call('lift IP block', () =>
      this.#scripts.sluiceRecordLift(this.#seqKey, this.#base, ip),
    );
    return lifted === 1;
  }

  async pruneIpBlocks(before: number): Promise<number> {
    const n = await this.#call('prune IP blocks', () =>
      this.#scripts.sluiceRecordPrune(this.#seqKey, this.#base, before),
    );
    return Number(n);
  }

  async listIpBlocks(): Promise<IpBlock[]> {
    const all = await this.#call('list IP blocks', () => this.#client.hvals(this.#k('blocks')));
    return all.map(toIpBlock).sort((a, b) => compare(a.ip, b.ip));
  }

  async saveIncidents(incidents: readonly Incident[]): Promise<void> {
    if (incidents.length === 0) return;
    await this.#write(
      'save incidents',
      incidents.map((i) => {
        const ref = normalizeReference(i.reference) ?? i.reference;
        return {
          t: 'incident',
          ref,
          endedAt: i.endedAt,
          account: i.subject.accountId,
          v: JSON.stringify({ ...i, reference: ref }),
        };
      }),
    );
  }

  async getIncident(reference: string): Promise<Incident | undefined> {
    const canonical = normalizeReference(reference);
    if (canonical === undefined) return undefined;
    const v = await this.#call('read incident', () =>
      this.#client.hget(this.#k('incidents'), canonical),
    );
    return v === null ? undefined : toIncident(v);
  }

  async listIncidents(
    options: { limit?: number; since?: number; accountId?: string } = {},
  ): Promise<Incident[]> {
    const index =
      options.accountId === undefined
        ? this.#k('incidents:ended')
        : this.#k(`incidents:account:${options.accountId}`);
    const since = options.since === undefined ? '-inf' : String(options.since);
    const { limit } = options;
    const refs = await this.#call('list incidents', async () => {
      const found =
        limit === undefined
          ? await this.#client.zrevrangebyscore(index, '+inf', since)
          : await this.#client.zrevrangebyscore(index, '+inf', since, 'LIMIT', 0, limit);
      if (limit === undefined || found.length < limit || found.length === 0) return found;
      // Ties at the cut are ordered by reference, not as the index has them: read them all.
      const last = await this.#client.zscore(index, found[found.length - 1]);
      const tied = last === null ? [] : await this.#client.zrangebyscore(index, last, last);
      return [...new Set([...found, ...tied])];
    });
    if (refs.length === 0) return [];
    const values = await this.#call('list incidents', () =>
      this.#client.hmget(this.#k('incidents'), ...refs),
    );
    return values
      .filter((v): v is string => v !== null)
      .map(toIncident)
      .sort((a, b) => b.endedAt - a.endedAt || compare(a.reference, b.reference))
      .slice(0, limit);
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    await this.#write('append to the audit trail', [auditOp(entry)]);
  }

  async listAudit(options: { limit?: number; keyId?: string } = {}): Promise<AuditEntry[]> {
    const index =
      options.keyId === undefined ? this.#k('audit') : this.#k(`audit:key:${options.keyId}`);
    const { limit } = options;
    // Newest first; at one time, the last appended first (the 16-digit order, descending).
    const members = await this.#call('read the audit trail', () =>
      limit === undefined
        ? this.#client.zrevrangebyscore(index, '+inf', '-inf')
        : this.#client.zrevrangebyscore(index, '+inf', '-inf', 'LIMIT', 0, limit),
    );
    return members.map((m) => toAudit(m.slice(16)));
  }

  async takeBulkExport(
    owner: string,
    dataset: string,
    now: number,
    limit: number,
    periodMs: number,
  ): Promise<BulkExportVerdict> {
    const out = (await this.#call('take a bulk export', () =>
      this.#scripts.sluiceRecordBulk(
        this.#seqKey,
        this.#k(`bulk:${JSON.stringify([owner, dataset])}`),
        this.#k(`bulk-owner:${owner}`),
        this.#base,
        now,
        limit === Number.POSITIVE_INFINITY ? 'inf' : limit,
        periodMs,
        dataset,
      ),
    )) as [number, number, string];
    return {
      allowed: out[0] === 1,
      used: out[1],
      nextAllowedAt: out[2] === '' ? undefined : Number(out[2]) + periodMs,
    };
  }

  async listBulkExports(owner: string, since: number): Promise<{ dataset: string; at: number }[]> {
    const flat = await this.#call('list bulk exports', () =>
      this.#client.zrangebyscore(this.#k(`bulk-owner:${owner}`), `(${since}`, '+inf', 'WITHSCORES'),
    );
    const out: { dataset: string; at: number }[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      out.push({ dataset: flat[i].slice(flat[i].indexOf('\n') + 1), at: Number(flat[i + 1]) });
    }
    return out.sort((a, b) => a.at - b.at || compare(a.dataset, b.dataset));
  }

  /**
   * Calls `listener` when another process (or this one) changes a record, as soon as
   * Redis tells: a nudge to poll `changesSince` now. Also called when the subscription
   * comes back after a disconnection (messages were lost meanwhile). Returns the unwatch.
   */
  watch(listener: () => void): () => void {
    this.#watchers.add(listener);
    if (this.#subscriber === undefined) this.#subscribe();
    return () => this.#watchers.delete(listener);
  }

  #subscribe(): void {
    // A connection of its own (a subscribed connection runs no other command), queueing
    // while disconnected: it is no request's path, and it resubscribes on reconnecting.
    const client = this.link.client;
    const sub = this.link.isCluster
      ? (client as Cluster).duplicate(undefined, { enableOfflineQueue: true })
      : (client as Redis).duplicate({
          enableOfflineQueue: true,
          commandTimeout: undefined,
          maxRetriesPerRequest: null,
        });
    this.#subscriber = sub;
    const nudge = () => {
      for (const listener of this.#watchers) listener();
    };
    sub.on('error', () => {});
    sub.on('message', nudge);
    let first = true;
    sub.on('ready', () => {
      if (!first) nudge();
      first = false;
    });
    sub.subscribe(`${this.#base}changes`).catch(() => {});
  }

  close(): void {
    this.#subscriber?.disconnect();
    this.#subscriber = undefined;
    if (this.#closeLink) this.link.close();
  }

  get #client(): Redis | Cluster {
    return this.link.client;
  }

  #k(name: string): string {
    return `${this.#base}${name}`;
  }

  async #write(what: string, ops: WriteOp[]): Promise<void> {
    await this.#call(what, () =>
      this.#scripts.sluiceRecordWrite(this.#seqKey, this.#base, JSON.stringify(ops)),
    );
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw new SluiceError(
        'SLUICE_ERR_STORE',
        `${this.where}: cannot ${what}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
}

function accountOp(a: Account): WriteOp {
  return { t: 'account', id: a.id, v: JSON.stringify(a) };
}

function keyOp(k: ApiKeyRecord): WriteOp & { t: 'key' } {
  return { t: 'key', id: k.id, hash: k.hash, v: JSON.stringify(k) };
}

function auditOp(entry: AuditEntry): WriteOp {
  return { t: 'audit', at: entry.at, keyId: entry.subject.keyId, v: JSON.stringify(entry) };
}

/** Plain code-unit order, as the other stores sort. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// JSON drops undefined fields; the readers put back the shape the other stores return.

function toAccount(json: string): Account {
  const a = JSON.parse(json);
  return { id: a.id, size: a.size, plan: a.plan, createdAt: a.createdAt };
}

function toKey(json: string): ApiKeyRecord {
  const k = JSON.parse(json);
  return {
    id: k.id,
    accountId: k.accountId,
    hash: k.hash,
    status: k.status,
    suspendedUntil: k.suspendedUntil ?? undefined,
    createdAt: k.createdAt,
    updatedAt: k.updatedAt,
    reason: k.reason ?? undefined,
    ...(typeof k.statusBy === 'string' ? { statusBy: k.statusBy } : {}),
    ...(typeof k.origin === 'string' ? { origin: k.origin } : {}),
  };
}

function toIpBlock(json: string): IpBlock {
  const b = JSON.parse(json);
  const block: IpBlock = {
    ip: b.ip,
    until: b.until ?? undefined,
    createdAt: b.createdAt,
    reason: b.reason,
    reference: b.reference ?? undefined,
    actor: b.actor,
  };
  return b.earnedBy === undefined ? block : { ...block, earnedBy: b.earnedBy };
}

function toSubject(s: Subject): Subject {
  const subject: { accountId?: string; keyId?: string; ip?: string } = {};
  if (s.accountId !== undefined) subject.accountId = s.accountId;
  if (s.keyId !== undefined) subject.keyId = s.keyId;
  if (s.ip !== undefined) subject.ip = s.ip;
  return subject;
}

function toIncident(json: string): Incident {
  const i = JSON.parse(json);
  return {
    reference: i.reference,
    rule: i.rule,
    subject: toSubject(i.subject),
    startedAt: i.startedAt,
    endedAt: i.endedAt,
    count: i.count,
    counters: i.counters,
    note: i.note ?? undefined,
  };
}

function toAudit(json: string): AuditEntry {
  const e = JSON.parse(json);
  return {
    at: e.at,
    actor: e.actor,
    action: auditActionOf(e.action),
    subject: toSubject(e.subject),
    reason: e.reason,
    reference: e.reference ?? undefined,
  };
}
