import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { isSluiceError } from '../../src/core/errors.ts';
import { openSqliteRecordStore } from '../../src/store/sqlite-record-store.ts';
import {
  incident,
  key,
  runRecordStoreContract,
  runSharedRecordStoreContract,
} from './record-store.contract.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-sqlite-'));
  dirs.push(dir);
  return dir;
}
process.on('exit', () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

runRecordStoreContract('sqlite record store', () => openSqliteRecordStore(tempDir()));
runSharedRecordStoreContract('sqlite record store', () => {
  const dir = tempDir();
  return () => openSqliteRecordStore(dir);
});

test('sqlite: records survive close and reopen', () => {
  const dir = tempDir();
  const a = openSqliteRecordStore(dir);
  a.putAccount({ id: 'acme', size: 7, plan: 'standard', createdAt: 1 });
  a.putKey(key('KEY0000001', 'acme', { status: 'revoked', reason: 'RL-7KQ4-M9XT' }));
  a.saveIncidents([incident('RL-7KQ4-M9XT', { count: 42 })]);
  a.appendAudit({
    at: 5,
    actor: 'cli:alice',
    action: 'key-revoke',
    subject: { keyId: 'KEY0000001' },
    reason: 'x',
    reference: undefined,
  });
  const seq = a.keyChangesSince(0).seq;
  a.close();
  a.close(); // closing twice is harmless

  const b = openSqliteRecordStore(dir);
  try {
    assert.equal(b.getAccount('acme')?.size, 7);
    assert.equal(b.getKey('KEY0000001')?.status, 'revoked');
    assert.equal(b.getIncident('rl7kq4m9xt')?.count, 42);
    assert.equal(b.listAudit().length, 1);
    // The sequence continues where it was: a cache that saw `seq` misses nothing.
    assert.equal(b.keyChangesSince(0).seq, seq);
    b.putKey(key('KEY0000001', 'acme'));
    assert.deepEqual(
      b.keyChangesSince(seq).keys.map((k) => k.status),
      ['active'],
    );
  } finally {
    b.close();
  }
});

test('sqlite: a database made before changesSince gives its accounts and blocks a sequence', () => {
  const dir = tempDir();
  openSqliteRecordStore(dir).close();
  // The layout of an older sluice: no seq column on accounts and blocks, no lifts table.
  const db = new DatabaseSync(join(dir, 'sluice.db'));
  db.exec(`DROP TABLE accounts_v1; DROP TABLE ip_blocks_v1; DROP TABLE ip_lifts_v1;
    CREATE TABLE accounts_v1 (
      id TEXT PRIMARY KEY, size REAL NOT NULL, plan TEXT NOT NULL, created_at INTEGER NOT NULL);
    CREATE TABLE ip_blocks_v1 (
      ip TEXT PRIMARY KEY, blocked_until INTEGER, created_at INTEGER NOT NULL, reason TEXT NOT NULL,
      reference TEXT, actor TEXT NOT NULL, earned_key_id TEXT, earned_account_id TEXT);
    INSERT INTO accounts_v1 VALUES ('acme', 3, 'standard', 1);
    INSERT INTO ip_blocks_v1 VALUES ('203.0.113.9', NULL, 1, 'by hand', NULL, 'cli:alice', NULL, NULL);
    UPDATE meta_v1 SET value = 2 WHERE name = 'seq';`);
  db.close();
  const store = openSqliteRecordStore(dir);
  try {
    const all = store.changesSince(0);
    assert.equal(all.seq, 2);
    assert.deepEqual(
      all.accounts.map((a) => a.id),
      ['acme'],
    );
    assert.deepEqual(
      all.ipBlocks.map((b) => b.ip),
      ['203.0.113.9'],
    );
    assert.deepEqual(store.changesSince(2).accounts, [], 'a cache at 2 holds them already');
    store.deleteIpBlock('203.0.113.9');
    assert.deepEqual(store.changesSince(2).liftedIps, ['203.0.113.9']);
  } finally {
    store.close();
  }
});

test('sqlite: changesSince walks an index of the sequence on every table it reads', () => {
  const dir = tempDir();
  openSqliteRecordStore(dir).close();
  const db = new DatabaseSync(join(dir, 'sluice.db'));
  try {
    for (const table of ['keys_v1', 'accounts_v1', 'ip_blocks_v1', 'ip_lifts_v1']) {
      const plan = db
        .prepare(`EXPLAIN QUERY PLAN SELECT * FROM ${table} WHERE seq > ? ORDER BY seq`)
        .all(5)
        .map((row) => String(row.detail))
        .join('; ');
      assert.match(plan, /USING INDEX \w+_seq/, `${table}: ${plan}`);
    }
  } finally {
    db.close();
  }
});

test('sqlite: audit rows written by earlier versions read in the one vocabulary', () => {
  const dir = tempDir();
  openSqliteRecordStore(dir).close();
  // As earlier versions stored them: the admin API and safeguards wrote the bare words.
  const db = new DatabaseSync(join(dir, 'sluice.db'));
  const old = ['revoke', 'reinstate', 'suspend', 'dry-run suspend', 'dry-run revoke', 'key-revoke'];
  old.forEach((action, i) => {
    db.prepare(
      "INSERT INTO audit_v1 (at, actor, action, key_id, reason) VALUES (?, 'sluice', ?, 'KEY0000001', 'x')",
    ).run(i, action);
  });
  db.close();
  const store = openSqliteRecordStore(dir);
  try {
    assert.deepEqual(
      store.listAudit().map((a) => a.action),
      [
        'key-revoke',
        'dry-run key-revoke',
        'dry-run key-suspend',
        'key-suspend',
        'key-reinstate',
        'key-revoke',
      ],
    );
  } finally {
    store.close();
  }
});

test('sqlite: two stores on the same directory see each other’s writes', () => {
  const dir = tempDir();
  const gateway = openSqliteRecordStore(dir);
  const cli = openSqliteRecordStore(dir);
  try {
    gateway.putKey(key('KEY0000001', 'acme'));
    const seen = gateway.keyChangesSince(0).seq;
    cli.putKey({ ...cli.getKey('KEY0000001')!, status: 'revoked', reason: 'support' });
    const changes = gateway.keyChangesSince(seen);
    assert.deepEqual(
      changes.keys.map((k) => [k.id, k.status]),
      [['KEY0000001', 'revoked']],
    );
    gateway.saveIncidents([incident('RL-7KQ4-M9XT')]);
    assert.equal(cli.getIncident('7kq4m9xt')?.reference, 'RL-7KQ4-M9XT');
  } finally {
    gateway.close();
    cli.close();
  }
});

test('sqlite: two processes writing at once both succeed (WAL and busy timeout)', async () => {
  const dir = tempDir();
  const store = openSqliteRecordStore(dir);
  const moduleUrl = new URL('../../src/store/sqlite-record-store.ts', import.meta.url).href;
  const script = `
    import { openSqliteRecordStore } from ${JSON.stringify(moduleUrl)};
    const s = openSqliteRecordStore(process.argv[1]);
    for (let i = 0; i < 500; i++) {
      s.putKey({ id: 'CHILD' + i, accountId: 'child', hash: 'child-' + i, status: 'active',
        suspendedUntil: undefined, createdAt: i, updatedAt: i, reason: undefined });
    }
    s.close();`;
  try {
    let childDone = false;
    const child = promisify(execFile)(
      process.execPath,
      ['--no-warnings', '--input-type=module', '-e', script, dir],
      { timeout: 30_000 },
    ).finally(() => {
      childDone = true;
    });
    // Keep writing until the child has finished, so the two writers overlap (bounded).
    let written = 0;
    while (!childDone && written < 20_000) {
      store.putKey(key(`PARENT${written}`, 'parent', { hash: `parent-${written}` }));
      written++;
      if (written % 20 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    await child;
    assert.equal(store.listKeys('child').length, 500);
    assert.equal(store.listKeys('parent').length, written);
    const all = store.keyChangesSince(0);
    assert.equal(all.keys.length, 500 + written);
    assert.equal(all.seq, 500 + written);
  } finally {
    store.close();
  }
});

test('sqlite: the bulk-export ledger keeps only exports still in their window', () => {
  const dir = tempDir();
  const store = openSqliteRecordStore(dir);
  const month = 30 * 86_400_000;
  try {
    // Two years of monthly exports of two datasets, and one refused attempt a day.
    for (let day = 0; day < 730; day++) {
      const now = day * 86_400_000;
      for (const dataset of ['companies', 'devices']) {
        store.takeBulkExport('acme', dataset, now, 2, month);
      }
    }
  } finally {
    store.close();
  }
  const db = new DatabaseSync(join(dir, 'sluice.db'));
  try {
    const rows = db
      .prepare('SELECT dataset, COUNT(*) AS n FROM bulk_exports_v1 GROUP BY dataset ORDER BY 1')
      .all()
      .map((r) => [r.dataset, r.n]);
    assert.deepEqual(rows, [
      ['companies', 2],
      ['devices', 2],
    ]);
  } finally {
    db.close();
  }
});

test('sqlite: a bulk export waits for another process’s write and counts what it wrote', async () => {
  const dir = tempDir();
  openSqliteRecordStore(dir).close(); // the schema exists before the child opens the file
  const moduleUrl = new URL('../../src/store/sqlite-record-store.ts', import.meta.url).href;
  const month = 30 * 86_400_000;
  // Another process (here: a raw connection) holds the write lock while it records the
  // last export. A take that counted before getting the lock would see none and take it
  // too; an atomic one waits for the lock, then counts that export and refuses.
  const other = new DatabaseSync(join(dir, 'sluice.db'));
  // The child opens its store (which writes) first, then takes once the lock is held.
  const script = `
    import { existsSync, writeFileSync } from 'node:fs';
    import { join } from 'node:path';
    import { openSqliteRecordStore } from ${JSON.stringify(moduleUrl)};
    const s = openSqliteRecordStore(process.argv[1]);
    writeFileSync(join(process.argv[1], 'opened'), '');
    const deadline = Date.now() + 20_000;
    while (!existsSync(join(process.argv[1], 'locked')) && Date.now() < deadline) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
    const verdict = s.takeBulkExport('acme', 'companies', 2_000, 1, ${month});
    s.close();
    process.stdout.write(JSON.stringify(verdict));`;
  try {
    const child = promisify(execFile)(
      process.execPath,
      ['--no-warnings', '--input-type=module', '-e', script, dir],
      { timeout: 30_000 },
    );
    for (let waited = 0; !existsSync(join(dir, 'opened')) && waited < 20_000; waited += 10) {
      await new Promise((r) => setTimeout(r, 10));
    }
    other.exec('BEGIN IMMEDIATE');
    writeFileSync(join(dir, 'locked'), '');
    // Give the child time to reach the lock (well inside its 5 s busy timeout).
    await new Promise((r) => setTimeout(r, 200));
    other
      .prepare('INSERT INTO bulk_exports_v1 (owner, dataset, at) VALUES (?, ?, ?)')
      .run('acme', 'companies', 1_000);
    other.exec('COMMIT');
    assert.deepEqual(JSON.parse((await child).stdout), {
      allowed: false,
      used: 1,
      nextAllowedAt: 1_000 + month,
    });
  } finally {
    if (other.isTransaction) other.exec('ROLLBACK');
    other.close();
  }
});

test('sqlite: processes crowding the same bulk exports never take more than the limit', async () => {
  const dir = tempDir();
  openSqliteRecordStore(dir).close(); // the schema exists before the race
  const moduleUrl = new URL('../../src/store/sqlite-record-store.ts', import.meta.url).href;
  const pairs = 300;
  const children = 4;
  // After one start signal, every child takes exports of one account until refused, then
  // moves to the next: all of them crowd the same account, whichever is fastest. Each
  // prints the accounts it was allowed, once per export.
  const script = `
    import { existsSync, writeFileSync } from 'node:fs';
    import { join } from 'node:path';
    import { openSqliteRecordStore } from ${JSON.stringify(moduleUrl)};
    const [dir, name] = process.argv.slice(1);
    const s = openSqliteRecordStore(dir);
    writeFileSync(join(dir, 'ready-' + name), '');
    const deadline = Date.now() + 20_000;
    while (!existsSync(join(dir, 'go')) && Date.now() < deadline) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
    const allowed = [];
    for (let i = 0, calls = 0; i < ${pairs} && calls < ${10 * pairs}; calls++) {
      if (s.takeBulkExport('acct' + i, 'companies', 1_000_000 + i, 2, 86_400_000).allowed) {
        allowed.push(i);
      } else i++;
    }
    s.close();
    process.stdout.write(JSON.stringify(allowed));`;
  const runs = Array.from({ length: children }, (_, n) =>
    promisify(execFile)(
      process.execPath,
      ['--no-warnings', '--input-type=module', '-e', script, dir, String(n)],
      { timeout: 30_000 },
    ),
  );
  const ready = () =>
    Array.from({ length: children }, (_, n) => join(dir, `ready-${n}`)).every(existsSync);
  for (let waited = 0; !ready() && waited < 20_000; waited += 10) {
    await new Promise((r) => setTimeout(r, 10));
  }
  writeFileSync(join(dir, 'go'), '');
  const taken = new Array<number>(pairs).fill(0);
  const perChild = [];
  for (const run of runs) {
    const allowed = JSON.parse((await run).stdout) as number[];
    perChild.push(allowed.length);
    for (const i of allowed) taken[i]++;
  }
  assert.deepEqual(taken, new Array(pairs).fill(2), `allowed per child: ${perChild}`);
});

test('sqlite: WAL mode and versioned table names', () => {
  const dir = tempDir();
  openSqliteRecordStore(dir).close();
  const db = new DatabaseSync(join(dir, 'sluice.db'));
  try {
    assert.equal(
      (db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode,
      'wal',
    );
    const tables = db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .all()
      .map((r) => r.name);
    assert.deepEqual(tables, [
      'accounts_v1',
      'audit_v1',
      'bulk_exports_v1',
      'incidents_v1',
      'ip_blocks_v1',
      'ip_lifts_v1',
      'keys_v1',
      'meta_v1',
    ]);
  } finally {
    db.close();
  }
});

test('sqlite: creates a missing data directory, nested', () => {
  const dir = join(tempDir(), 'a', 'b');
  const store = openSqliteRecordStore(dir);
  store.putAccount({ id: 'x', size: 1, plan: 'p', createdAt: 0 });
  assert.equal(store.file, join(dir, 'sluice.db'));
  store.close();
});

function assertDataDirError(fn: () => unknown, path: string, reason: RegExp) {
  assert.throws(fn, (error) => {
    assert.ok(isSluiceError(error), String(error));
    assert.equal(error.code, 'SLUICE_ERR_DATA_DIR');
    assert.equal(error.exitCode, 2);
    assert.ok(error.message.startsWith(`${path}: `), error.message);
    assert.match(error.message, reason);
    return true;
  });
}

test('sqlite: a data directory that is a file is refused in plain words', () => {
  const file = join(tempDir(), 'not-a-dir');
  writeFileSync(file, 'x');
  assertDataDirError(() => openSqliteRecordStore(file), file, /not a directory/);
  assertDataDirError(
    () => openSqliteRecordStore(join(file, 'below')),
    join(file, 'below'),
    /not a directory/,
  );
});

test('sqlite: a sluice.db that is not a database is refused in plain words', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'sluice.db'), 'this is a text file, not a SQLite database\n'.repeat(20));
  assertDataDirError(
    () => openSqliteRecordStore(dir),
    join(dir, 'sluice.db'),
    /not a SQLite database/,
  );
});

test('sqlite: using a closed store is a store error, not a crash', () => {
  const store = openSqliteRecordStore(tempDir());
  store.close();
  assert.throws(
    () => store.getKey('x'),
    (e) => isSluiceError(e) && e.code === 'SLUICE_ERR_STORE' && /cannot read key/.test(e.message),
  );
});

test('sqlite: a database from before who-acted gets the columns; old rows read as before', () => {
  const dir = tempDir();
  const old = new DatabaseSync(join(dir, 'sluice.db'));
  // The tables as sluice created them before keys.status_by and ip_blocks_v1.earned_*.
  old.exec(`
CREATE TABLE keys_v1 (
  id TEXT PRIMARY KEY, account_id TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, status TEXT NOT NULL,
  suspended_until INTEGER, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, reason TEXT,
  seq INTEGER NOT NULL);
CREATE TABLE ip_blocks_v1 (
  ip TEXT PRIMARY KEY, blocked_until INTEGER, created_at INTEGER NOT NULL, reason TEXT NOT NULL,
  reference TEXT, actor TEXT NOT NULL);
INSERT INTO keys_v1 VALUES ('KEY0000001', 'acme', 'h1', 'revoked', NULL, 1, 2, 'ticket 1', 1);
INSERT INTO ip_blocks_v1 VALUES ('203.0.113.9', NULL, 1, 'test', NULL, 'cli:alice');`);
  old.close();
  const store = openSqliteRecordStore(dir);
  try {
    assert.equal(store.getKey('KEY0000001')?.statusBy, undefined);
    assert.equal(store.listIpBlocks()[0].earnedBy, undefined, 'an old block refuses everyone');
    store.putKey({ ...store.getKey('KEY0000001')!, statusBy: 'admin:dana' });
    assert.equal(store.getKey('KEY0000001')?.statusBy, 'admin:dana');
    const earnedBy = { keyId: 'KEY0000002', accountId: 'globex' };
    store.putIpBlock({ ...store.listIpBlocks()[0], actor: 'sluice', earnedBy });
    assert.deepEqual(store.listIpBlocks()[0].earnedBy, earnedBy);
    // An operator's block replacing it refuses everyone again.
    store.putIpBlock({ ...store.listIpBlocks()[0], actor: 'cli:alice', earnedBy: undefined });
    assert.equal(store.listIpBlocks()[0].earnedBy, undefined);
  } finally {
    store.close();
  }
});
