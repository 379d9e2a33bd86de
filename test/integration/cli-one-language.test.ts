/**
 * The CLI speaks one language with the admin API, in-process on a real SQLite database
 * (main() as `bin/sluice` runs it): "not found" is exit 3 in every command, `--json`
 * times are ISO strings as in webhooks, the audit trail and the recent incidents have
 * their commands, audit actions read in one vocabulary, and a mistyped option gets a
 * did-you-mean instead of Node's parser message.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { before, test } from 'node:test';
import type { CliIo } from '../../src/cli/io.ts';
import { main } from '../../src/cli/main.ts';
import { openSqliteRecordStore } from '../../src/store/sqlite-record-store.ts';
import { tempDir } from '../helpers/gateway-process.ts';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const data = tempDir('sluice-cli-one-language-');
let keyId = '';

/** Runs `sluice …args --data <data>` in-process; exit status and what it printed. */
async function sluice(...args: string[]) {
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

before(async () => {
  const created = await sluice('keys', 'create', '--account', 'acme', '--json');
  assert.equal(created.code, 0, created.stderr);
  keyId = JSON.parse(created.stdout).id;
  const store = openSqliteRecordStore(data);
  try {
    store.saveIncidents([
      {
        reference: 'RL-7KQ4-M9XT',
        rule: 'ip-block',
        subject: { ip: '203.0.113.9' },
        startedAt: Date.UTC(2026, 0, 5, 12, 0, 0),
        endedAt: Date.UTC(2026, 0, 5, 12, 1, 0),
        count: 3,
        counters: { ipRequests: 201, ipBlock: 200 },
        note: undefined,
      },
    ]);
  } finally {
    store.close();
  }
});

test('a mistyped option gets a did-you-mean, exit 2, not the parser message', async () => {
  const cases: [string[], string][] = [
    [['keys', 'list', '--acount', 'acme'], 'unknown option --acount; did you mean --account?'],
    [['incident', '--lsit'], 'unknown option --lsit; did you mean --list?'],
    [
      ['ips', 'block', '203.0.113.9', '--reasn', 'x'],
      'unknown option --reasn; did you mean --reason?',
    ],
    [['audit', '--kye', keyId], 'unknown option --kye; did you mean --key?'],
    [
      ['keys', 'list', '--account'],
      '--account needs a value (for one that starts with "-", write --account=-…)',
    ],
  ];
  for (const [args, message] of cases) {
    const r = await sluice(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.stderr, `sluice: ${message} [SLUICE_ERR_CLI_USAGE]\n`, args.join(' '));
  }
  const far = await sluice('keys', 'list', '--colour');
  assert.match(
    far.stderr,
    /^sluice: unknown option --colour \(options: --config, --data, --help, /,
  );
});

test('"not found" is exit 3 in every command, with SLUICE_ERR_NOT_FOUND', async () => {
  const cases: [string[], RegExp][] = [
    [['keys', 'revoke', 'ZZZZZZZZZZ'], /no API key with id "ZZZZZZZZZZ"/],
    [['keys', 'reinstate', 'ZZZZZZZZZZ'], /no API key with id "ZZZZZZZZZZ"/],
    [['incident', 'rl-zzzz-zzzz'], /no incident RL-ZZZZ-ZZZZ/],
    // As the admin API answers 404 ip-not-blocked.
    [['ips', 'unblock', '198.51.100.7'], /IP 198\.51\.100\.7 is not blocked; nothing changed/],
  ];
  for (const [args, message] of cases) {
    const r = await sluice(...args);
    assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /\[SLUICE_ERR_NOT_FOUND\]\n$/);
    assert.equal(r.stdout, '');
  }
});

test('--json times are ISO strings, as in webhooks', async () => {
  const keys = JSON.parse((await sluice('keys', 'list', '--json')).stdout);
  assert.match(keys[0].createdAt, ISO);
  assert.match(keys[0].updatedAt, ISO);
  assert.equal(keys[0].suspendedUntil, null);
  const accounts = JSON.parse((await sluice('keys', 'accounts', '--json')).stdout);
  assert.match(accounts[0].createdAt, ISO);

  const blocked = await sluice('ips', 'block', '203.0.113.7', '--for', '1h', '--json');
  assert.equal(blocked.code, 0, blocked.stderr);
  const block = JSON.parse(blocked.stdout);
  assert.match(block.until, ISO);
  assert.equal(Date.parse(block.until) - Date.parse(block.createdAt), 3_600_000);
  const listed = JSON.parse((await sluice('ips', 'list', '--json')).stdout);
  assert.deepEqual(
    listed.map((b: { until: string }) => b.until),
    [block.until],
  );
  const lifted = JSON.parse((await sluice('ips', 'unblock', '203.0.113.7', '--json')).stdout);
  assert.equal(lifted.lifted.until, block.until);

  const incident = JSON.parse((await sluice('incident', 'RL-7KQ4-M9XT', '--json')).stdout);
  assert.equal(incident.startedAt, '2026-01-05T12:00:00.000Z');
  assert.equal(incident.endedAt, '2026-01-05T12:01:00.000Z');
  assert.deepEqual(incident.counters, { ipRequests: 201, ipBlock: 200 }, 'facts as recorded');

  const audit = JSON.parse((await sluice('audit', '--json')).stdout);
  for (const entry of audit) assert.match(entry.at, ISO);
});

test('sluice incidents lists the recent incidents; both commands are in the help', async () => {
  const list = await sluice('incidents');
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^REFERENCE\s+RULE\s+WHO\s+STARTED\s+STATUS\s+REQUESTS$/m);
  assert.match(list.stdout, /^RL-7KQ4-M9XT\s+ip-block\s+IP 203\.0\.113\.9\s/m);
  const json = JSON.parse((await sluice('incidents', '--limit', '1', '--json')).stdout);
  assert.deepEqual(
    json.map((i: { reference: string }) => i.reference),
    ['RL-7KQ4-M9XT'],
  );
  let help = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (help += s) },
    stderr: { write: () => undefined },
    env: {},
    cwd: data,
  };
  assert.equal(await main(['--help'], io), 0);
  assert.match(help, /^ {2}incidents +list the most recently active incidents/m);
  assert.match(help, /^ {2}audit +show the audit trail/m);
  assert.match(help, /3 not found/);
});

test('sluice audit shows the trail newest first, in one vocabulary, for a key typed any case', async () => {
  assert.equal((await sluice('keys', 'revoke', keyId, '--reason', 'ticket 5')).code, 0);
  // A row as an earlier version of the admin API wrote it.
  const db = new DatabaseSync(join(data, 'sluice.db'));
  db.prepare(
    "INSERT INTO audit_v1 (at, actor, action, account_id, key_id, reason) VALUES (?, 'admin:dana', 'reinstate', 'acme', ?, 'ticket 6')",
  ).run(Date.now() + 1_000, keyId);
  db.close();

  const r = await sluice('audit', '--key', keyId.toLowerCase());
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0], /^AT\s+BY\s+ACTION\s+SUBJECT\s+REFERENCE\s+REASON$/);
  assert.deepEqual(
    lines.slice(1).map((l) => l.split(/\s{2,}/).slice(1)),
    [
      ['admin:dana', 'key-reinstate', `key ${keyId} (acme)`, 'ticket 6'],
      ['cli:tester', 'key-revoke', `key ${keyId} (acme)`, 'ticket 5'],
      ['cli:tester', 'key-create', `key ${keyId} (acme)`, 'created with sluice keys create'],
    ],
  );
  const limited = JSON.parse((await sluice('audit', '--limit', '1', '--json')).stdout);
  assert.deepEqual(
    limited.map((e: { action: string }) => e.action),
    ['key-reinstate'],
  );
  const bad = await sluice('audit', '--key', 'nope');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--key: "nope" is not a key id/);
  assert.equal((await sluice('audit', '--limit', '0')).code, 2);
});
