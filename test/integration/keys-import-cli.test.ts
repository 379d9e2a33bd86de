/**
 * `sluice keys import FILE`, in-process (main() as `bin/sluice` runs it) on a real SQLite
 * database: CSV and JSON lines, keys of any format or their SHA-256, a bad line
 * rejecting the whole file with its number, a key of another account rejecting it too,
 * and importing the same file again changing nothing and saying so. The secrets never
 * reach the disk or the output.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CliIo } from '../../src/cli/io.ts';
import { main } from '../../src/cli/main.ts';
import { hashApiKey } from '../../src/core/api-key.ts';
import { openSqliteRecordStore } from '../../src/store/sqlite-record-store.ts';
import { tempDir } from '../helpers/gateway-process.ts';

/** Keys as an API that predates sluice issued them: not `sk_…`. */
const SECRET_A = 'live_4f9aQx7Lm2Rt8Kp3Zs6Wv1Yb';
const SECRET_B = 'Zm9vYmFyLWxlZ2FjeS1rZXktMTIzNDU2';
const SECRET_C = 'c0ffee00-1234-4abc-9def-00aa11bb22cc';

/** Runs `sluice …args --data <data>` in-process; exit status and what it printed. */
async function sluice(data: string, ...args: string[]) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { USER: 'tester' },
    cwd: data,
  };
  const code = await main([...args, '--data', data], io);
  return { code, stdout, stderr };
}

function bytesOnDisk(dir: string): Buffer {
  return Buffer.concat(
    readdirSync(dir)
      .filter((f) => f.startsWith('sluice.db'))
      .map((f) => readFileSync(join(dir, f))),
  );
}

function keysIn(data: string) {
  const store = openSqliteRecordStore(data);
  try {
    return { keys: store.listKeys(), accounts: store.listAccounts(), audit: store.listAudit() };
  } finally {
    store.close();
  }
}

test('keys import (CSV): keys of any format and SHA-256s, accounts created, hashes only on disk', async () => {
  const data = tempDir('sluice-import-csv-');
  writeFileSync(
    join(data, 'keys.csv'),
    'account,size,plan,key,sha256\n' +
      `acme,12,enterprise,${SECRET_A},\n` +
      `"acme",12,,"${SECRET_B}",\n` +
      `globex,,,,${hashApiKey(SECRET_C).toUpperCase()}\n`,
  );
  const r = await sluice(data, 'keys', 'import', 'keys.csv');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Imported 3 keys from keys\.csv \(accounts created: acme, globex\)/);
  for (const s of [SECRET_A, SECRET_B, SECRET_C]) assert.ok(!r.stdout.includes(s));

  const { keys, accounts, audit } = keysIn(data);
  assert.deepEqual(
    accounts.map((a) => [a.id, a.size, a.plan]),
    [
      ['acme', 12, 'enterprise'],
      ['globex', 1, ''],
    ],
  );
  assert.deepEqual(
    keys.map((k) => [k.accountId, k.hash, k.origin, k.status]).sort(),
    [
      ['acme', hashApiKey(SECRET_A), 'imported', 'active'],
      ['acme', hashApiKey(SECRET_B), 'imported', 'active'],
      ['globex', hashApiKey(SECRET_C), 'imported', 'active'],
    ].sort(),
  );
  for (const k of keys) assert.match(k.id, /^[0-9A-HJKMNP-TV-Z]{10}$/);
  assert.equal(audit.filter((e) => e.action === 'key-import').length, 3);
  assert.equal(audit.filter((e) => e.action === 'account-create').length, 2);
  const disk = bytesOnDisk(data);
  assert.ok(disk.includes(hashApiKey(SECRET_A)), 'the hash is on disk (the right files)');
  for (const s of [SECRET_A, SECRET_B]) assert.ok(!disk.includes(s), 'no secret on disk');
});

test('keys import (JSON lines) twice: the second time changes nothing and says so', async () => {
  const data = tempDir('sluice-import-jsonl-');
  const file = join(data, 'keys.jsonl');
  writeFileSync(
    file,
    `${JSON.stringify({ account: 'acme', size: 3, plan: 'standard', key: SECRET_A })}\n\n` +
      `${JSON.stringify({ account: 'beta', sha256: hashApiKey(SECRET_B) })}\n`,
  );
  const first = await sluice(data, 'keys', 'import', file, '--json');
  assert.equal(first.code, 0, first.stderr);
  const result = JSON.parse(first.stdout);
  assert.equal(result.imported.length, 2);
  assert.deepEqual(result.accountsCreated, ['acme', 'beta']);
  const before = keysIn(data);

  const again = await sluice(data, 'keys', 'import', file);
  assert.equal(again.code, 0, again.stderr);
  assert.match(
    again.stdout,
    /Nothing imported: all 2 keys of .*keys\.jsonl are already there; nothing changed/,
  );
  assert.deepEqual(keysIn(data), before, 'no key, account or audit entry changed');
});

test('keys import: one bad line rejects the whole file, naming every bad line; nothing is imported', async () => {
  const data = tempDir('sluice-import-bad-');
  writeFileSync(
    join(data, 'keys.csv'),
    'account,size,key\n' +
      `acme,12,${SECRET_A}\n` +
      `acme,twelve,${SECRET_B}\n` +
      'beta,1,\n' +
      `bad account,1,${SECRET_C}\n`,
  );
  const r = await sluice(data, 'keys', 'import', 'keys.csv');
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /keys\.csv has 3 bad lines; nothing was imported \[SLUICE_ERR_IMPORT_INVALID\]/,
  );
  assert.match(r.stderr, /line 3: size must be a whole number .*"twelve"/);
  assert.match(r.stderr, /line 4: no key and no sha256/);
  assert.match(r.stderr, /line 5: account must be/);
  assert.doesNotMatch(r.stderr, /line 2:/);
  for (const s of [SECRET_A, SECRET_B, SECRET_C])
    assert.ok(!r.stderr.includes(s), 'no secret in the errors');
  const { keys, accounts, audit } = keysIn(data);
  assert.deepEqual([keys, accounts, audit], [[], [], []]);

  // A JSON line the parser cannot read is named without quoting it (it holds a key).
  writeFileSync(
    join(data, 'keys.jsonl'),
    `{"account":"acme","key":"${SECRET_A}"}\n{"account":"acme","key":"${SECRET_B}"\n`,
  );
  const json = await sluice(data, 'keys', 'import', 'keys.jsonl');
  assert.equal(json.code, 2);
  assert.match(json.stderr, /line 2: not valid JSON/);
  assert.ok(!json.stderr.includes(SECRET_B));
  assert.deepEqual(keysIn(data).keys, []);
});

test('keys import: a key already registered to another account rejects the file; nothing is imported', async () => {
  const data = tempDir('sluice-import-conflict-');
  writeFileSync(join(data, 'first.csv'), `account,key\nacme,${SECRET_A}\n`);
  assert.equal((await sluice(data, 'keys', 'import', 'first.csv')).code, 0);
  writeFileSync(join(data, 'second.csv'), `account,key\nbeta,${SECRET_B}\nbeta,${SECRET_A}\n`);
  const r = await sluice(data, 'keys', 'import', 'second.csv');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[SLUICE_ERR_IMPORT_CONFLICT\]/);
  assert.match(
    r.stderr,
    /line 3: this key is already registered as key [0-9A-Z]{10} of account acme/,
  );
  const { keys } = keysIn(data);
  assert.deepEqual(
    keys.map((k) => k.accountId),
    ['acme'],
    'beta\u2019s good line was not imported either',
  );
});

test('keys import: a missing file and a wrong header are plain errors', async () => {
  const data = tempDir('sluice-import-usage-');
  const missing = await sluice(data, 'keys', 'import', 'nope.csv');
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read nope\.csv: no such file \[SLUICE_ERR_CLI_USAGE\]/);
  writeFileSync(join(data, 'keys.csv'), `acount,key\nacme,${SECRET_A}\n`);
  const header = await sluice(data, 'keys', 'import', 'keys.csv');
  assert.equal(header.code, 2);
  assert.match(header.stderr, /line 1: unknown column "acount"; did you mean account\?/);
});
