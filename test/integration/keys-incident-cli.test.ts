/**
 * `sluice keys` and `sluice incident` as real processes (bin/sluice.js) on a real
 * database: the key is shown once and stored nowhere, revocations and the audit trail
 * land in the file the gateway reads, and support finds an incident by a code typed
 * any way a customer reads it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { hashApiKey } from '../../src/core/api-key.ts';
import { openSqliteRecordStore } from '../../src/store/sqlite-record-store.ts';
import { sluice as run } from '../helpers/gateway-process.ts';

const KEY = /sk_[0-9A-Z]{10}_[0-9A-Za-z]{32}/g;

const data = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
after(() => rmSync(data, { recursive: true, force: true }));

/** Runs `sluice …` through the launcher (bin/sluice.js) as its own process, bounded in time. */
const sluice = (...args: string[]) =>
  run(args, { bin: true, env: { USER: 'tester', SLUICE_DEBUG: '1' } });

/** Every byte sluice wrote under the data directory (database, WAL, shared memory). */
function bytesOnDisk(): Buffer {
  return Buffer.concat(readdirSync(data).map((f) => readFileSync(join(data, f))));
}

let key = '';
let keyId = '';

test('keys create prints the key once, with a warning, and stores only its hash', async () => {
  const r = await sluice(
    'keys',
    'create',
    '--account',
    'acme',
    '--size',
    '12',
    '--plan',
    'standard',
    '--data',
    data,
  );
  assert.equal(r.code, 0, r.stderr);
  const shown = `${r.stdout}${r.stderr}`.match(KEY) ?? [];
  assert.equal(shown.length, 1, `the key is printed exactly once:\n${r.stdout}`);
  key = shown[0];
  keyId = key.slice(3, 13);
  assert.match(r.stdout, /only time the key is shown/);
  assert.match(r.stdout, /Created account acme \(size 12, plan standard\)/);

  const disk = bytesOnDisk();
  assert.ok(disk.includes(hashApiKey(key)), 'the hash is on disk (so these are the right files)');
  assert.ok(!disk.includes(key), 'the key is not on disk');
  assert.ok(!disk.includes(key.slice(14)), 'the secret part is not on disk');
});

test('keys list shows ids, never secrets', async () => {
  const r = await sluice('keys', 'list', '--data', data);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^KEY ID\s+ACCOUNT\s+STATUS\s+SINCE\s+REASON$/m);
  assert.match(r.stdout, new RegExp(`^${keyId}\\s+acme\\s+active\\s`, 'm'));
  assert.ok(!r.stdout.includes(key.slice(14)), 'no secret in the listing');
  assert.ok(!r.stdout.includes(hashApiKey(key)), 'no hash in the listing');
  const json = await sluice('keys', 'list', '--account', 'acme', '--json', '--data', data);
  const rows = JSON.parse(json.stdout);
  assert.deepEqual(
    rows.map((k: { id: string; status: string }) => [k.id, k.status]),
    [[keyId, 'active']],
  );
  assert.ok(!json.stdout.includes(key.slice(14)) && !json.stdout.includes(hashApiKey(key)));
});

test('keys revoke reaches an open store (as a running gateway holds it), and list shows it', async () => {
  const gateway = openSqliteRecordStore(data);
  try {
    const seen = gateway.keyChangesSince(0).seq;
    // Typed as read over the phone: lower case.
    const r = await sluice(
      'keys',
      'revoke',
      keyId.toLowerCase(),
      '--reason',
      'ticket 42',
      '--data',
      data,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`API key ${keyId} of account acme revoked`));
    const changes = gateway.keyChangesSince(seen);
    assert.deepEqual(
      changes.keys.map((k) => [k.id, k.status, k.reason]),
      [[keyId, 'revoked', 'ticket 42']],
    );
    assert.equal(gateway.findKeyByHash(hashApiKey(key))?.status, 'revoked');
  } finally {
    gateway.close();
  }
  const list = await sluice('keys', 'list', '--data', data);
  assert.match(list.stdout, new RegExp(`^${keyId}\\s+acme\\s+revoked\\s+\\S+\\s+ticket 42$`, 'm'));
});

test('keys reinstate, accounts and set-account', async () => {
  const r = await sluice('keys', 'reinstate', keyId, '--data', data);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /reinstated \(was revoked\): reinstated by cli:tester/);
  const set = await sluice('keys', 'set-account', 'acme', '--size', '40', '--data', data);
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, /Updated account acme: size 12 → 40\./);
  const accounts = await sluice('keys', 'accounts', '--data', data);
  assert.match(accounts.stdout, /^acme\s+40\s+standard\s+1 \(1 active\)\s/m);
});

test('every change is in the audit trail, newest first, by cli:<user>', () => {
  const store = openSqliteRecordStore(data);
  try {
    const trail = store.listAudit();
    assert.deepEqual(
      trail.map((e) => [e.action, e.actor]),
      [
        ['account-update', 'cli:tester'],
        ['key-reinstate', 'cli:tester'],
        ['key-revoke', 'cli:tester'],
        ['key-create', 'cli:tester'],
        ['account-create', 'cli:tester'],
      ],
    );
    assert.equal(trail[2].reason, 'ticket 42');
    assert.deepEqual(trail[2].subject, { accountId: 'acme', keyId });
    assert.ok(!JSON.stringify(trail).includes(key.slice(14)));
  } finally {
    store.close();
  }
});

test('bad arguments are refused with exit 2 and plain words', async () => {
  const cases: [string[], RegExp][] = [
    [['keys', 'create'], /--account is required/],
    [
      ['keys', 'create', '--account', 'acme', '--size', '1.5'],
      /--size must be a whole number of 0 or more/,
    ],
    [['keys', 'create', '--account', 'acme', '--size', 'many'], /--size must be a whole number/],
    [['keys', 'create', '--account', 'has space'], /--account must be 1 to 128 letters/],
    [['keys', 'revoke'], /takes one key id/],
    [['keys', 'list', '--size', '3'], /--size does not apply to "sluice keys list"/],
    [['keys', 'set-account', 'acme'], /needs --size, --plan or both/],
    [['incident', 'rl-hello'], /"rl-hello" is not a reference code/],
    [['incident', '--list', '--limit', '0'], /--limit must be a whole number of 1 or more/],
  ];
  // Independent processes: run them side by side.
  const results = await Promise.all(cases.map(([args]) => sluice(...args, '--data', data)));
  for (const [i, [args, message]] of cases.entries()) {
    const r = results[i];
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('a data directory that cannot be used is named, exit 2', async () => {
  const file = join(data, 'a-file');
  writeFileSync(file, 'x');
  const r = await sluice('keys', 'list', '--data', file);
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`${file}: not a directory.*SLUICE_ERR_DATA_DIR`));
  rmSync(file);
});

test('sluice incident finds an incident by a code typed any way, with its explanation', async () => {
  const now = Date.now();
  const store = openSqliteRecordStore(data);
  store.saveIncidents([
    {
      reference: 'RL-7KQ4-M9XT',
      rule: 'ip-block',
      subject: { accountId: 'acme', keyId, ip: '203.0.113.9' },
      startedAt: now - 300_000,
      endedAt: now - 180_000,
      count: 1_234_567,
      counters: { ipRequests: 214, ipBlock: 200 },
      note: undefined,
    },
  ]);
  store.close();

  const r = await sluice('incident', 'rl7kq4m9xt', '--data', data);
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout;
  assert.match(out, /^RL-7KQ4-M9XT {2}Too many requests from one IP address$/m);
  assert.match(out, /^ {2}rule {6}ip-block$/m);
  assert.match(out, /^ {2}status {4}ended$/m);
  assert.match(
    out,
    new RegExp(`^ {2}who {7}account acme, key ${keyId}, IP 203\\.0\\.113\\.9$`, 'm'),
  );
  assert.match(
    out,
    new RegExp(`started {3}${new Date(now - 300_000).toISOString()} \\(5 minutes ago\\)`),
  );
  assert.match(
    out,
    new RegExp(`ended {5}${new Date(now - 180_000).toISOString()} \\(3 minutes ago\\)`),
  );
  assert.match(out, /^ {2}requests {2}1,234,567$/m);
  assert.match(out, /^ {2}counters {2}ipRequests 214, ipBlock 200$/m);
  assert.match(out, /Requests from IP 203\.0\.113\.9 were refused with 429 Too Many Requests\./);
  assert.match(
    out,
    /This IP sent 214 requests within one minute; the limit is 200 per minute per IP\./,
  );
  assert.match(out, /What to change\n {2}Pace requests below 200 per minute/);
  assert.ok(!out.includes(key.slice(14)));

  const json = JSON.parse((await sluice('incident', '7KQ4-M9XT', '--json', '--data', data)).stdout);
  assert.equal(json.reference, 'RL-7KQ4-M9XT');
  assert.equal(json.count, 1_234_567);
  assert.equal(json.status, 'ended');
  assert.match(json.explanation.why, /214 requests/);

  const list = await sluice('incident', '--list', '--data', data);
  assert.match(list.stdout, /^RL-7KQ4-M9XT\s+ip-block\s+account acme/m);
  const listJson = JSON.parse(
    (await sluice('incident', '--list', '--limit', '5', '--json', '--data', data)).stdout,
  );
  assert.deepEqual(
    listJson.map((i: { reference: string }) => i.reference),
    ['RL-7KQ4-M9XT'],
  );
});

test('an unknown code is exit 3 (not found) with the canonical code in the message', async () => {
  const r = await sluice('incident', 'rl-zzzz-zzzz', '--data', data);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /^sluice: no incident RL-ZZZZ-ZZZZ /);
});
