/**
 * `sluice ips` as a real process on a real database: a block lands in the file a running
 * gateway holds open and moves the change sequence it polls, the listing shows safeguard
 * and operator blocks (expired ones as expired), every change is in the audit trail, and
 * a bad address is refused before anything is opened.
 */
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { after, test } from 'node:test';
import { openSqliteRecordStore } from '../../src/store/sqlite-record-store.ts';
import { type CliResult, sluice, tempDir } from '../helpers/gateway-process.ts';

const data = tempDir('sluice-ips-');
after(() => rmSync(data, { recursive: true, force: true }));

const HOUR = 3_600_000;
/** A safeguard's block, written as the gateway would, for an incident. */
const SAFEGUARD_IP = '198.51.100.7';

function ips(...args: string[]): Promise<CliResult> {
  return sluice(['ips', ...args], { env: { USER: 'tester', SLUICE_DEBUG: '1' } });
}

test('ips block reaches an open store (as a running gateway holds it) through the sequence', async () => {
  const gateway = openSqliteRecordStore(data);
  try {
    const seen = gateway.keyChangesSince(0).seq;
    const before = Date.now();
    const r = await ips(
      'block',
      '203.0.113.9',
      '--for',
      '1h',
      '--reason',
      'ticket 42',
      '--data',
      data,
    );
    const afterRun = Date.now();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Blocked IP 203\.0\.113\.9 until \S+Z \(1h\): ticket 42$/m);

    assert.ok(gateway.keyChangesSince(seen).seq > seen, 'the gateway sees the sequence move');
    const [block] = gateway.listIpBlocks();
    assert.deepEqual(
      { ...block, until: 0, createdAt: 0 },
      {
        ip: '203.0.113.9',
        until: 0,
        createdAt: 0,
        reason: 'ticket 42',
        reference: undefined,
        actor: 'cli:tester',
      },
    );
    assert.ok(block.createdAt >= before && block.createdAt <= afterRun, 'created now');
    assert.equal(block.until, block.createdAt + HOUR, 'for one hour');
  } finally {
    gateway.close();
  }
});

test('ips block stores an IPv6 address in the form sockets report, until lifted by default', async () => {
  const r = await ips('block', '2001:0DB8:0000::0001', '--data', data);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Blocked IP 2001:db8::1 until lifted: blocked by cli:tester$/m);
  const mapped = await ips('block', '::ffff:192.0.2.1', '--for', '30m', '--data', data);
  assert.match(mapped.stdout, /^Blocked IP 192\.0\.2\.1 until /m, 'IPv4-mapped is IPv4');
  const store = openSqliteRecordStore(data);
  try {
    const blocks = store.listIpBlocks();
    assert.deepEqual(
      blocks.map((b) => b.ip),
      ['192.0.2.1', '2001:db8::1', '203.0.113.9'],
    );
    assert.equal(blocks[1].until, undefined);
  } finally {
    store.close();
  }
});

test('ips list shows every block; an expired one as expired, and it stays', async () => {
  const ended = Date.now() - 60_000;
  const store = openSqliteRecordStore(data);
  store.putIpBlock({
    ip: SAFEGUARD_IP,
    until: ended,
    createdAt: ended - HOUR,
    reason: 'kept sending while answered 429',
    reference: 'RL-7KQ4-M9XT',
    actor: 'sluice',
  });
  store.close();

  const r = await ips('list', '--data', data);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0], /^IP\s+UNTIL\s+REFERENCE\s+BY\s+REASON$/);
  assert.deepEqual(
    lines.slice(1).map((l) => l.split(/\s{2,}/)),
    [
      ['192.0.2.1', lines[1].split(/\s{2,}/)[1], 'cli:tester', 'blocked by cli:tester'],
      [
        '198.51.100.7',
        `expired ${new Date(ended).toISOString()}`,
        'RL-7KQ4-M9XT',
        'sluice',
        'kept sending while answered 429',
      ],
      ['2001:db8::1', 'until lifted', 'cli:tester', 'blocked by cli:tester'],
      ['203.0.113.9', lines[4].split(/\s{2,}/)[1], 'cli:tester', 'ticket 42'],
    ],
  );
  assert.match(lines[1], /^192\.0\.2\.1\s+\d{4}-\d\d-\d\dT\S+Z\s/);

  const json = await ips('list', '--json', '--data', data);
  assert.equal(json.code, 0, json.stderr);
  const rows = JSON.parse(json.stdout) as {
    ip: string;
    until: string | null;
    expired: boolean;
    reference: string | null;
  }[];
  assert.deepEqual(
    rows.map((b) => [b.ip, b.expired, b.reference]),
    [
      ['192.0.2.1', false, null],
      [SAFEGUARD_IP, true, 'RL-7KQ4-M9XT'],
      ['2001:db8::1', false, null],
      ['203.0.113.9', false, null],
    ],
  );
  assert.equal(rows[1].until, new Date(ended).toISOString(), 'an ISO time, as in webhooks');
  assert.equal(rows[2].until, null, 'until lifted is null, not missing');
});

test('ips unblock lifts a block, moves the sequence, and says so; a second time changes nothing', async () => {
  const gateway = openSqliteRecordStore(data);
  try {
    const seen = gateway.keyChangesSince(0).seq;
    const r = await ips(
      'unblock',
      SAFEGUARD_IP,
      '--reason',
      'customer fixed the retry loop',
      '--data',
      data,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^Unblocked IP 198\.51\.100\.7 \(was blocked until \S+Z \(expired\) for RL-7KQ4-M9XT by sluice\): customer fixed the retry loop$/m,
    );
    const moved = gateway.keyChangesSince(seen).seq;
    assert.ok(moved > seen, 'the gateway sees the lift');
    assert.ok(!gateway.listIpBlocks().some((b) => b.ip === SAFEGUARD_IP));

    const again = await ips('unblock', SAFEGUARD_IP, '--data', data);
    assert.equal(again.code, 3, 'not found, as every command says it');
    assert.match(
      again.stderr,
      /^sluice: IP 198\.51\.100\.7 is not blocked; nothing changed \[SLUICE_ERR_NOT_FOUND\]$/m,
    );
    assert.equal(gateway.keyChangesSince(moved).seq, moved, 'nothing to reread');

    const v6 = await ips('unblock', '2001:db8:0::1', '--data', data);
    assert.match(v6.stdout, /^Unblocked IP 2001:db8::1 /m, 'found however it is typed');
  } finally {
    gateway.close();
  }
});

test('every block and unblock is in the audit trail as cli:<user>, with the IP as subject', () => {
  const store = openSqliteRecordStore(data);
  try {
    const trail = store.listAudit();
    assert.deepEqual(
      trail.map((e) => [e.action, e.actor, e.subject, e.reference]),
      [
        ['unblock-ip', 'cli:tester', { ip: '2001:db8::1' }, undefined],
        // Lifting a safeguard's block links the lift to the incident that caused it.
        ['unblock-ip', 'cli:tester', { ip: SAFEGUARD_IP }, 'RL-7KQ4-M9XT'],
        ['block-ip', 'cli:tester', { ip: '192.0.2.1' }, undefined],
        ['block-ip', 'cli:tester', { ip: '2001:db8::1' }, undefined],
        ['block-ip', 'cli:tester', { ip: '203.0.113.9' }, undefined],
      ],
    );
    assert.equal(trail[1].reason, 'customer fixed the retry loop');
    assert.match(trail[4].reason, /^ticket 42 \(until \d{4}-\S+Z\)$/);
    assert.equal(trail[3].reason, 'blocked by cli:tester (until lifted)');
  } finally {
    store.close();
  }
});

test('ips unblock finds a block stored in another spelling of the address', async () => {
  const store = openSqliteRecordStore(data);
  try {
    // As a header-supplied address might have been stored, not as a socket reports it.
    store.putIpBlock({
      ip: '2001:DB8:0:0::42',
      until: undefined,
      createdAt: Date.now(),
      reason: 'x',
      reference: undefined,
      actor: 'sluice',
    });
    const r = await ips('unblock', '2001:db8::42', '--data', data);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Unblocked IP 2001:db8::42 /m);
    assert.ok(!store.listIpBlocks().some((b) => b.ip.includes('42')), 'the row is gone');
  } finally {
    store.close();
  }
});

test('bad arguments are refused with exit 2 and plain words, before the database is opened', async (t) => {
  const empty = tempDir('sluice-ips-bad-');
  t.after(() => rmSync(empty, { recursive: true, force: true }));
  const cases: [string[], RegExp][] = [
    [['block', 'nope'], /"nope" is not an IP address: write one IPv4 or IPv6 address/],
    [['block', '999.1.1.1'], /"999\.1\.1\.1" is not an IP address/],
    [['unblock', '203.0.113.0/24'], /ranges are not supported/],
    [['block', 'fe80::1%eth0'], /without the zone/],
    [['block'], /"sluice ips block" takes one IP address/],
    [['block', '203.0.113.9', '192.0.2.1'], /unexpected argument "192\.0\.2\.1"/],
    [['block', '203.0.113.9', '--for', 'soon'], /--for: "soon" is not a duration/],
    [['block', '203.0.113.9', '--for', '0s'], /--for must be longer than 0/],
    [['list', '--reason', 'x'], /--reason does not apply to "sluice ips list"/],
    [['unblock', '203.0.113.9', '--for', '1h'], /--for does not apply to "sluice ips unblock"/],
  ];
  const results = await Promise.all(cases.map(([args]) => ips(...args, '--data', empty)));
  for (const [i, [args, message]] of cases.entries()) {
    const r = results[i];
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.match(r.stderr, /\[SLUICE_ERR_CLI_USAGE\]$/m);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  assert.deepEqual(readdirSync(empty), [], 'nothing was created');
});
