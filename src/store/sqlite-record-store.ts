/**
 * The record store in an embedded SQLite database (`node:sqlite`): `<dataDir>/sluice.db`.
 *
 * The running gateway and a `sluice keys …` process use the same file at once, so:
 * WAL mode (readers never wait for the writer), a busy timeout (a writer waits for the
 * other's transaction instead of failing), `BEGIN IMMEDIATE` for every write (takes the
 * write lock up front, so two writers never deadlock upgrading a read lock), and a
 * change sequence that a running gateway polls to pick up keys revoked and IPs blocked
 * elsewhere. The bulk-export ledger lives here too, not in the limit store: a monthly
 * allowance must outlive restarts and be one allowance for every process on the file.
 *
 * Table names carry a version (`keys_v1`): a later schema that changes what a column
 * means gets new tables and a copy step, so an older sluice never misreads a newer
 * layout; a nullable column an older sluice can ignore is added in place (addWhoActed). Key secrets are never
 * stored, only their SHA-256. Semantics are those of the contract suite (see
 * memory-record-store.ts).
 *
 * Over 300 lines on purpose: one prepared statement and one row mapping per method of
 * the RecordStore contract, beside the schema they depend on.
 */
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { SluiceError } from '../core/errors.ts';
import { bulkVerdict } from '../core/limiter/bulk-log.ts';
import {
  type Account,
  type ApiKeyRecord,
  type AuditEntry,
  auditActionOf,
  type BulkExportVerdict,
  type Incident,
  type IpBlock,
  type KeyImportBatch,
  type KeyOrigin,
  type KeyStatus,
  type Subject,
} from '../core/records.ts';
import { normalizeReference } from '../core/reference.ts';
import { prepareDataDir } from './data-dir.ts';
import type { RecordChanges, RecordStore } from './types.ts';

/** The database file inside the data directory. */
export const DB_FILE = 'sluice.db';
/** How long a write waits for another process's transaction before failing. */
const BUSY_TIMEOUT_MS = 5_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta_v1 (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta_v1 (name, value) VALUES ('seq', 0);
CREATE TABLE IF NOT EXISTS accounts_v1 (
  id TEXT PRIMARY KEY, size REAL NOT NULL, plan TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS keys_v1 (
  id TEXT PRIMARY KEY, account_id TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, status TEXT NOT NULL,
  suspended_until INTEGER, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, reason TEXT,
  seq INTEGER NOT NULL, status_by TEXT);
CREATE INDEX IF NOT EXISTS keys_v1_seq ON keys_v1 (seq);
CREATE INDEX IF NOT EXISTS keys_v1_account ON keys_v1 (account_id, created_at);
CREATE TABLE IF NOT EXISTS ip_blocks_v1 (
  ip TEXT PRIMARY KEY, blocked_until INTEGER, created_at INTEGER NOT NULL, reason TEXT NOT NULL,
  reference TEXT, actor TEXT NOT NULL, earned_key_id TEXT, earned_account_id TEXT);
CREATE TABLE IF NOT EXISTS incidents_v1 (
  reference TEXT PRIMARY KEY, rule TEXT NOT NULL, account_id TEXT, key_id TEXT, ip TEXT,
  started_at INTEGER NOT NULL, ended_at INTEGER NOT NULL, count INTEGER NOT NULL,
  counters TEXT NOT NULL, note TEXT);
CREATE INDEX IF NOT EXISTS incidents_v1_ended ON incidents_v1 (ended_at);
CREATE INDEX IF NOT EXISTS incidents_v1_account ON incidents_v1 (account_id, ended_at);
CREATE TABLE IF NOT EXISTS audit_v1 (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL,
  action TEXT NOT NULL, account_id TEXT, key_id TEXT, ip TEXT, reason TEXT NOT NULL, reference TEXT);
CREATE INDEX IF NOT EXISTS audit_v1_at ON audit_v1 (at, id);
CREATE INDEX IF NOT EXISTS audit_v1_key ON audit_v1 (key_id, at, id);
CREATE TABLE IF NOT EXISTS bulk_exports_v1 (
  owner TEXT NOT NULL, dataset TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS bulk_exports_v1_owner ON bulk_exports_v1 (owner, dataset, at);
CREATE TABLE IF NOT EXISTS ip_lifts_v1 (ip TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS ip_lifts_v1_seq ON ip_lifts_v1 (seq);
`;

type Row = Record<string, unknown>;

/**
 * Opens the record store in `dataDir`, creating the directory unless `create` is false
 * (commands that only read records: a missing directory is then a mistyped `--data`).
 *
 * @example
 * const store = openSqliteRecordStore('/var/lib/sluice');
 * store.findKeyByHash(hashApiKey(key));
 * store.close();
 */
export function openSqliteRecordStore(
  dataDir: string,
  options: { create?: boolean } = {},
): SqliteRecordStore {
  prepareDataDir(dataDir, { create: options.create ?? true });
  return new SqliteRecordStore(dataDir);
}

export class SqliteRecordStore implements RecordStore {
  /** Path of the database file. */
  readonly file: string;
  readonly #db: DatabaseSync;
  readonly #bumpSeq: StatementSync;
  readonly #readSeq: StatementSync;
  readonly #putAccount: StatementSync;
  readonly #getAccount: StatementSync;
  readonly #listAccounts: StatementSync;
  readonly #putKey: StatementSync;
  readonly #getKey: StatementSync;
  readonly #keyByHash: StatementSync;
  readonly #listKeys: StatementSync;
  readonly #listKeysOf: StatementSync;
  readonly #keysAfter: StatementSync;
  readonly #accountsAfter: StatementSync;
  readonly #blocksAfter: StatementSync;
  readonly #liftsAfter: StatementSync;
  readonly #putLift: StatementSync;
  readonly #dropLift: StatementSync;
  readonly #putIpBlock: StatementSync;
  readonly #deleteIpBlock: StatementSync;
  readonly #pruneIpBlocks: StatementSync;
  readonly #listIpBlocks: StatementSync;
  readonly #putIncident: StatementSync;
  readonly #getIncident: StatementSync;
  readonly #listIncidents: StatementSync;
  readonly #listIncidentsOf: StatementSync;
  readonly #listBulk: StatementSync;
  readonly #appendAudit: StatementSync;
  readonly #listAudit: StatementSync;
  readonly #listAuditOf: StatementSync;
  readonly #pruneBulk: StatementSync;
  readonly #countedBulk: StatementSync;
  readonly #recordBulk: StatementSync;

  constructor(dataDir: string) {
    this.file = join(dataDir, DB_FILE);
    prepareDataDir(dataDir, { create: true });
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(this.file);
      this.#db = db;
      // busy_timeout first: switching to WAL and creating tables may wait for another process.
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.exec('PRAGMA journal_mode = WAL');
      // The gateway writes on its event loop: an fsync per commit (SQLite's default FULL)
      // stalls every request for milliseconds at each incident flush. With WAL, NORMAL
      // syncs only at checkpoints: a crash of sluice loses nothing committed; a power
      // loss or kernel crash may lose the last commits before the checkpoint.
      db.exec('PRAGMA synchronous = NORMAL');
      this.#transaction(() => {
        db?.exec(SCHEMA);
        if (db !== undefined) {
          addWhoActed(db);
          addChangeSequence(db);
        }
      });
    } catch (error) {
      if (db?.isOpen) db.close();
      throw openError(this.file, error);
    }
    this.#bumpSeq = db.prepare(
      "UPDATE meta_v1 SET value = value + 1 WHERE name = 'seq' RETURNING value",
    );
    this.#readSeq = db.prepare("SELECT value FROM meta_v1 WHERE name = 'seq'");
    this.#putAccount = db.prepare(
      `INSERT INTO accounts_v1 (id, size, plan, created_at, seq) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET size = excluded.size, plan = excluded.plan,
         created_at = excluded.created_at, seq = excluded.seq`,
    );
    this.#getAccount = db.prepare('SELECT * FROM accounts_v1 WHERE id = ?');
    this.#listAccounts = db.prepare('SELECT * FROM accounts_v1 ORDER BY id');
    this.#putKey = db.prepare(
      `INSERT INTO keys_v1 (id, account_id, hash, status, suspended_until, created_at, updated_at, reason, seq, status_by, origin)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET account_id = excluded.account_id, hash = excluded.hash,
         status = excluded.status, suspended_until = excluded.suspended_until,
         created_at = excluded.created_at, updated_at = excluded.updated_at,
         reason = excluded.reason, seq = excluded.seq, status_by = excluded.status_by,
         origin = excluded.origin`,
    );
    this.#getKey = db.prepare('SELECT * FROM keys_v1 WHERE id = ?');
    this.#keyByHash = db.prepare('SELECT * FROM keys_v1 WHERE hash = ?');
    this.#listKeys = db.prepare('SELECT * FROM keys_v1 ORDER BY account_id, created_at, id');
    this.#listKeysOf = db.prepare(
      'SELECT * FROM keys_v1 WHERE account_id = ? ORDER BY account_id, created_at, id',
    );
    this.#keysAfter = db.prepare('SELECT * FROM keys_v1 WHERE seq > ? ORDER BY seq');
    this.#accountsAfter = db.prepare('SELECT * FROM accounts_v1 WHERE seq > ? ORDER BY seq');
    this.#blocksAfter = db.prepare('SELECT * FROM ip_blocks_v1 WHERE seq > ? ORDER BY seq');
    this.#liftsAfter = db.prepare('SELECT ip FROM ip_lifts_v1 WHERE seq > ? ORDER BY seq');
    this.#putLift = db.prepare(
      'INSERT INTO ip_lifts_v1 (ip, seq) VALUES (?, ?) ON CONFLICT (ip) DO UPDATE SET seq = excluded.seq',
    );
    this.#dropLift = db.prepare('DELETE FROM ip_lifts_v1 WHERE ip = ?');
    this.#putIpBlock = db.prepare(
      `INSERT INTO ip_blocks_v1 (ip, blocked_until, created_at, reason, reference, actor,
         earned_key_id, earned_account_id, seq)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (ip) DO UPDATE SET blocked_until = excluded.blocked_until, seq = excluded.seq,
         created_at = excluded.created_at, reason = excluded.reason,
         reference = excluded.reference, actor = excluded.actor,
         earned_key_id = excluded.earned_key_id, earned_account_id = excluded.earned_account_id`,
    );
    this.#deleteIpBlock = db.prepare('DELETE FROM ip_blocks_v1 WHERE ip = ?');
    this.#pruneIpBlocks = db.prepare(
      'DELETE FROM ip_blocks_v1 WHERE blocked_until IS NOT NULL AND blocked_until < ?',
    );
    this.#listIpBlocks = db.prepare('SELECT * FROM ip_blocks_v1 ORDER BY ip');
    this.#putIncident = db.prepare(
      `INSERT INTO incidents_v1 (reference, rule, account_id, key_id, ip, started_at, ended_at, count, counters, note)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (reference) DO UPDATE SET rule = excluded.rule, account_id = excluded.account_id,
         key_id = excluded.key_id, ip = excluded.ip, started_at = excluded.started_at,
         ended_at = excluded.ended_at, count = excluded.count, counters = excluded.counters,
         note = excluded.note`,
    );
    this.#getIncident = db.prepare('SELECT * FROM incidents_v1 WHERE reference = ?');
    this.#listIncidents = db.prepare(
      'SELECT * FROM incidents_v1 WHERE ended_at >= ? ORDER BY ended_at DESC, reference LIMIT ?',
    );
    this.#listIncidentsOf = db.prepare(
      'SELECT * FROM incidents_v1 WHERE account_id = ? AND ended_at >= ? ORDER BY ended_at DESC, reference LIMIT ?',
    );
    this.#listBulk = db.prepare(
      'SELECT dataset, at FROM bulk_exports_v1 WHERE owner = ? AND at > ? ORDER BY at, dataset',
    );
    this.#appendAudit = db.prepare(
      `INSERT INTO audit_v1 (at, actor, action, account_id, key_id, ip, reason, reference)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#listAudit = db.prepare('SELECT * FROM audit_v1 ORDER BY at DESC, id DESC LIMIT ?');
    this.#listAuditOf = db.prepare(
      'SELECT * FROM audit_v1 WHERE key_id = ? ORDER BY at DESC, id DESC LIMIT ?',
    );
    this.#pruneBulk = db.prepare(
      'DELETE FROM bulk_exports_v1 WHERE owner = ? AND dataset = ? AND at <= ?',
    );
    this.#countedBulk = db.prepare(
      'SELECT at FROM bulk_exports_v1 WHERE owner = ? AND dataset = ? ORDER BY at',
    );
    this.#recordBulk = db.prepare(
      'INSERT INTO bulk_exports_v1 (owner, dataset, at) VALUES (?, ?, ?)',
    );
  }

  putAccount(account: Account): void {
    this.#write('save account', () => {
      const { value: seq } = this.#bumpSeq.get() as { value: number };
      this.#putAccount.run(account.id, account.size, account.plan, account.createdAt, seq);
    });
  }

  getAccount(id: string): Account | undefined {
    const row = this.#read('read account', () => this.#getAccount.get(id));
    return row === undefined ? undefined : toAccount(row);
  }

  listAccounts(): Account[] {
    return this.#read('list accounts', () => this.#listAccounts.all()).map(toAccount);
  }

  putKey(key: ApiKeyRecord): void {
    this.#write('save key', () => this.#insertKey(key));
  }

  importKeys(batch: KeyImportBatch): void {
    // One transaction: a failure anywhere (a hash already taken) rolls all of it back.
    this.#write('import keys', () => {
      for (const a of batch.accounts) {
        // Each account stamped, so identity caches read it as a change (changesSince).
        const { value: seq } = this.#bumpSeq.get() as { value: number };
        this.#putAccount.run(a.id, a.size, a.plan, a.createdAt, seq);
      }
      for (const k of batch.keys) this.#insertKey(k);
      for (const entry of batch.audit) this.#insertAudit(entry);
    });
  }

  #insertKey(key: ApiKeyRecord): void {
    const { value: seq } = this.#bumpSeq.get() as { value: number };
    this.#putKey.run(
      key.id,
      key.accountId,
      key.hash,
      key.status,
      key.suspendedUntil ?? null,
      key.createdAt,
      key.updatedAt,
      key.reason ?? null,
      seq,
      key.statusBy ?? null,
      key.origin ?? null,
    );
  }

  getKey(id: string): ApiKeyRecord | undefined {
    const row = this.#read('read key', () => this.#getKey.get(id));
    return row === undefined ? undefined : toKey(row);
  }

  findKeyByHash(hash: string): ApiKeyRecord | undefined {
    const row = this.#read('find key', () => this.#keyByHash.get(hash));
    return row === undefined ? undefined : toKey(row);
  }

  listKeys(accountId?: string): ApiKeyRecord[] {
    const rows = this.#read('list keys', () =>
      accountId === undefined ? this.#listKeys.all() : this.#listKeysOf.all(accountId),
    );
    return rows.map(toKey);
  }

  keyChangesSince(seq: number): { seq: number; keys: ApiKeyRecord[] } {
    // One read transaction: the sequence and the rows come from the same snapshot, so a
    // change committed in between is neither skipped nor counted before it is seen.
    return this.#read('read key changes', () => {
      this.#db.exec('BEGIN');
      try {
        const { value } = this.#readSeq.get() as { value: number };
        const keys = this.#keysAfter.all(seq).map(toKey);
        return { seq: Math.max(seq, value), keys };
      } finally {
        this.#db.exec('COMMIT');
      }
    });
  }

  changesSince(seq: number): RecordChanges {
    // One read transaction, as in keyChangesSince; each query walks its table's seq index
    // from `seq` on, so the cost is the rows changed since, not the rows stored.
    return this.#read('read changes', () => {
      this.#db.exec('BEGIN');
      try {
        const { value } = this.#readSeq.get() as { value: number };
        return {
          seq: Math.max(seq, value),
          keys: this.#keysAfter.all(seq).map(toKey),
          accounts: this.#accountsAfter.all(seq).map(toAccount),
          ipBlocks: this.#blocksAfter.all(seq).map(toIpBlock),
          liftedIps: this.#liftsAfter.all(seq).map((row) => row.ip as string),
        };
      } finally {
        this.#db.exec('COMMIT');
      }
    });
  }

  putIpBlock(block: IpBlock): void {
    this.#write('save IP block', () => {
      const { value: seq } = this.#bumpSeq.get() as { value: number };
      // A block put back is no longer lifted: one IP is in one of the two tables.
      this.#dropLift.run(block.ip);
      this.#putIpBlock.run(
        block.ip,
        block.until ?? null,
        block.createdAt,
        block.reason,
        block.reference ?? null,
        block.actor,
        block.earnedBy?.keyId ?? null,
        block.earnedBy?.accountId ?? null,
        seq,
      );
    });
  }

  deleteIpBlock(ip: string): boolean {
    return this.#write('lift IP block', () => {
      // Lifting nothing changes nothing: caches are not sent to reread for it.
      if (this.#deleteIpBlock.run(ip).changes === 0) return false;
      const { value: seq } = this.#bumpSeq.get() as { value: number };
      // A lift leaves a row of its own: caches following changes must hear of it.
      this.#putLift.run(ip, seq);
      return true;
    });
  }

  pruneIpBlocks(before: number): number {
    return this.#write('prune IP blocks', () => Number(this.#pruneIpBlocks.run(before).changes));
  }

  listIpBlocks(): IpBlock[] {
    return this.#read('list IP blocks', () => this.#listIpBlocks.all()).map(toIpBlock);
  }

  saveIncidents(incidents: readonly Incident[]): void {
    if (incidents.length === 0) return;
    this.#write('save incidents', () => {
      for (const i of incidents) {
        this.#putIncident.run(
          normalizeReference(i.reference) ?? i.reference,
          i.rule,
          i.subject.accountId ?? null,
          i.subject.keyId ?? null,
          i.subject.ip ?? null,
          i.startedAt,
          i.endedAt,
          i.count,
          JSON.stringify(i.counters),
          i.note ?? null,
        );
      }
    });
  }

  getIncident(reference: string): Incident | undefined {
    const canonical = normalizeReference(reference);
    if (canonical === undefined) return undefined;
    const row = this.#read('read incident', () => this.#getIncident.get(canonical));
    return row === undefined ? undefined : toIncident(row);
  }

  listIncidents(options: { limit?: number; since?: number; accountId?: string } = {}): Incident[] {
    const since = options.since ?? Number.MIN_SAFE_INTEGER;
    const limit = options.limit ?? -1;
    const account = options.accountId;
    const rows = this.#read('list incidents', () =>
      account === undefined
        ? this.#listIncidents.all(since, limit)
        : this.#listIncidentsOf.all(account, since, limit),
    );
    return rows.map(toIncident);
  }

  appendAudit(entry: AuditEntry): void {
    this.#write('append to the audit trail', () => this.#insertAudit(entry));
  }

  #insertAudit(entry: AuditEntry): void {
    const s = entry.subject;
    this.#appendAudit.run(
      entry.at,
      entry.actor,
      entry.action,
      s.accountId ?? null,
      s.keyId ?? null,
      s.ip ?? null,
      entry.reason,
      entry.reference ?? null,
    );
  }

  listAudit(options: { limit?: number; keyId?: string } = {}): AuditEntry[] {
    const limit = options.limit ?? -1;
    const rows = this.#read('read the audit trail', () =>
      options.keyId === undefined
        ? this.#listAudit.all(limit)
        : this.#listAuditOf.all(options.keyId, limit),
    );
    return rows.map(toAudit);
  }

  listBulkExports(owner: string, since: number): { dataset: string; at: number }[] {
    const rows = this.#read('list bulk exports', () => this.#listBulk.all(owner, since));
    return (rows as { dataset: string; at: number }[]).map((r) => ({
      dataset: r.dataset,
      at: r.at,
    }));
  }

  takeBulkExport(
    owner: string,
    dataset: string,
    now: number,
    limit: number,
    periodMs: number,
  ): BulkExportVerdict {
    // One write transaction from count to insert: another process cannot count the same
    // last export in between (BEGIN IMMEDIATE makes it wait for the lock instead).
    return this.#write('take a bulk export', () => {
      // Exports that left the window never count again; deleting them keeps at most
      // `limit` rows per owner and dataset, and what remains is exactly what counts.
      this.#pruneBulk.run(owner, dataset, now - periodMs);
      const counted = this.#countedBulk.all(owner, dataset) as { at: number }[];
      const verdict = bulkVerdict(
        counted.map((row) => row.at),
        limit,
        periodMs,
      );
      if (verdict.allowed) this.#recordBulk.run(owner, dataset, now);
      return verdict;
    });
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  #transaction<T>(fn: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = fn();
      this.#db.exec('COMMIT');
      return result;
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  #write<T>(what: string, fn: () => T): T {
    try {
      return this.#transaction(fn);
    } catch (error) {
      throw this.#storeError(what, error);
    }
  }

  #read<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      throw this.#storeError(what, error);
    }
  }

  #storeError(what: string, error: unknown): SluiceError {
    return new SluiceError('SLUICE_ERR_STORE', `${this.file}: cannot ${what}: ${reasonOf(error)}`, {
      cause: error,
    });
  }
}

function reasonOf(error: unknown): string {
  const e = error as { errstr?: unknown; message?: unknown };
  return String(e?.errstr ?? e?.message ?? error);
}

/** Plain words for why the data directory or database cannot be used. */
function openError(path: string, error: unknown): SluiceError {
  const e = error as { code?: string; errcode?: number };
  const reasons: Record<string, string> = {
    ENOTDIR: 'not a directory (a part of the path is a file)',
    EEXIST: 'not a directory (a file has that name)',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    EROFS: 'on a read-only file system',
  };
  const sqlite: Record<number, string> = {
    14: 'cannot be opened (check the directory exists and is writable)',
    26: 'not a SQLite database (is this the right data directory?)',
    8: 'read-only (check its permissions)',
    3: 'permission denied',
    5: 'locked by another process for too long',
  };
  const reason =
    (e?.code !== undefined ? reasons[e.code] : undefined) ??
    (e?.errcode !== undefined ? sqlite[e.errcode & 0xff] : undefined) ??
    reasonOf(error);
  return new SluiceError('SLUICE_ERR_DATA_DIR', `${path}: ${reason}`, {
    exitCode: 2,
    cause: error,
  });
}

function toAccount(row: Row): Account {
  return {
    id: row.id as string,
    size: row.size as number,
    plan: row.plan as string,
    createdAt: row.created_at as number,
  };
}

function toKey(row: Row): ApiKeyRecord {
  return {
    id: row.id as string,
    accountId: row.account_id as string,
    hash: row.hash as string,
    status: row.status as KeyStatus,
    suspendedUntil: (row.suspended_until as number | null) ?? undefined,
    createdAt: row.created_at as number,
    updatedAt: row.updated_at as number,
    reason: (row.reason as string | null) ?? undefined,
    ...(typeof row.status_by === 'string' ? { statusBy: row.status_by } : {}),
    ...(typeof row.origin === 'string' ? { origin: row.origin as KeyOrigin } : {}),
  };
}

function toIpBlock(row: Row): IpBlock {
  const block: IpBlock = {
    ip: row.ip as string,
    until: (row.blocked_until as number | null) ?? undefined,
    createdAt: row.created_at as number,
    reason: row.reason as string,
    reference: (row.reference as string | null) ?? undefined,
    actor: row.actor as string,
  };
  if (typeof row.earned_key_id !== 'string') return block;
  const accountId = typeof row.earned_account_id === 'string' ? row.earned_account_id : undefined;
  return {
    ...block,
    earnedBy:
      accountId === undefined
        ? { keyId: row.earned_key_id }
        : { keyId: row.earned_key_id, accountId },
  };
}

/**
 * Databases made before keys recorded who last changed their status and where they came
 * from, and blocks what earned them, get those nullable columns. Added in place rather than in new tables: a
 * row without them reads as before (no actor known; a block of every request from the
 * IP), and an older sluice reading these tables ignores them.
 */
function addWhoActed(db: DatabaseSync): void {
  const added: [string, string][] = [
    ['keys_v1', 'status_by'],
    ['ip_blocks_v1', 'earned_key_id'],
    ['ip_blocks_v1', 'earned_account_id'],
    // Where a key came from (`imported`); none: made by sluice.
    ['keys_v1', 'origin'],
  ];
  for (const [table, column] of added) {
    const columns = db.prepare(`PRAGMA table_info(${table})`).all() as Row[];
    if (!columns.some((c) => c.name === column)) {
      db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} TEXT`);
    }
  }
}

/**
 * Databases made before caches read changes incrementally get a `seq` column on
 * accounts and IP blocks (keys always had one) and its index. Rows already there are
 * stamped with the current sequence, so `changesSince(0)` returns them and a cache that
 * has seen the current sequence already holds them.
 */
function addChangeSequence(db: DatabaseSync): void {
  for (const table of ['accounts_v1', 'ip_blocks_v1']) {
    const columns = db.prepare(`PRAGMA table_info(${table})`).all() as Row[];
    if (!columns.some((c) => c.name === 'seq')) {
      db.exec(`ALTER TABLE ${table} ADD COLUMN seq INTEGER NOT NULL DEFAULT 0`);
      db.exec(`UPDATE ${table} SET seq = (SELECT value FROM meta_v1 WHERE name = 'seq')`);
    }
    db.exec(`CREATE INDEX IF NOT EXISTS ${table}_seq ON ${table} (seq)`);
  }
}

/** A subject with only the fields that are set, as the caller wrote it. */
function toSubject(row: Row): Subject {
  const subject: { accountId?: string; keyId?: string; ip?: string } = {};
  if (row.account_id !== null) subject.accountId = row.account_id as string;
  if (row.key_id !== null) subject.keyId = row.key_id as string;
  if (row.ip !== null) subject.ip = row.ip as string;
  return subject;
}

function toIncident(row: Row): Incident {
  return {
    reference: row.reference as string,
    rule: row.rule as Incident['rule'],
    subject: toSubject(row),
    startedAt: row.started_at as number,
    endedAt: row.ended_at as number,
    count: row.count as number,
    counters: JSON.parse(row.counters as string),
    note: (row.note as string | null) ?? undefined,
  };
}

function toAudit(row: Row): AuditEntry {
  return {
    at: row.at as number,
    actor: row.actor as string,
    // Rows written by earlier versions read in today's words.
    action: auditActionOf(row.action as string),
    subject: toSubject(row),
    reason: row.reason as string,
    reference: (row.reference as string | null) ?? undefined,
  };
}
