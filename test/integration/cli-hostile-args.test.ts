/**
 * The CLI against hostile or mistaken arguments, as real processes: a data directory
 * that can never be created (`/proc/…`) fails at once instead of hanging, a mistyped
 * `--data` on a command that only reads says so instead of creating an empty
 * database, and a 10 KB argument is echoed shortened, never in full.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { sluice, tempDir } from '../helpers/gateway-process.ts';

const LONG = 'A'.repeat(10_240);

test('--data under /proc fails at once with SLUICE_ERR_DATA_DIR, for reading and writing commands', async () => {
  for (const args of [
    ['incident', '--list', '--data', '/proc/sluice-nope'],
    ['keys', 'create', '--account', 'acme', '--data', '/proc/sluice-nope/deeper'],
    [
      'serve',
      '--upstream',
      'http://127.0.0.1:9',
      '--listen',
      '127.0.0.1:0',
      '--data',
      '/proc/sluice-nope',
    ],
  ]) {
    const started = performance.now();
    const r = await sluice(args, { timeoutMs: 10_000 });
    assert.ok(performance.now() - started < 5_000, `${args[0]} took too long`);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /\/proc\/sluice-nope.*\[SLUICE_ERR_DATA_DIR\]/);
  }
});

test('a reading command on a mistyped --data says so and creates nothing', async () => {
  const base = tempDir();
  const typo = join(base, 'dtaa');
  for (const args of [
    ['incident', 'RL-AAAA-AAAA'],
    ['incident', '--list'],
    ['keys', 'list'],
    ['keys', 'accounts'],
    ['keys', 'revoke', 'K123'],
    ['ips', 'list'],
    ['ips', 'unblock', '192.0.2.1'],
  ]) {
    const r = await sluice([...args, '--data', typo]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(
      r.stderr,
      `sluice: no data directory at ${typo}: is --data right? (sluice serve creates it) [SLUICE_ERR_DATA_DIR]\n`,
    );
    assert.equal(existsSync(typo), false, `${args.join(' ')} created ${typo}`);
  }
  // Commands that create records create the directory, as serve does.
  const made = await sluice(['keys', 'create', '--account', 'acme', '--data', typo]);
  assert.equal(made.code, 0, made.stderr);
  assert.equal((await sluice(['keys', 'list', '--data', typo])).code, 0);
});

test('a 10 KB argument is echoed as its first 60 characters and its length', async () => {
  const data = tempDir();
  for (const args of [
    [LONG],
    ['keys', LONG],
    ['keys', `--${LONG}`],
    ['incident', LONG, '--data', data],
    ['keys', 'revoke', LONG, '--data', data],
    ['keys', 'create', '--account', LONG, '--data', data],
    ['ips', 'block', LONG, '--data', data],
    ['ips', 'block', '192.0.2.1', '--for', LONG, '--data', data],
    ['check', LONG],
    ['serve', '--listen', LONG],
    ['keys', 'list', '--data', join(data, LONG)],
  ]) {
    const r = await sluice(args);
    const shown = args.map((a) => (a.length > 100 ? '<10 KB>' : a)).join(' ');
    assert.notEqual(r.code, 0, shown);
    // An unknown command is answered with the group's help (about 1 KB), never with 10 KB.
    assert.ok(r.stderr.length < 1_500, `${shown}: ${r.stderr.length} characters of error`);
    assert.match(
      r.stderr,
      /AAAAAAAAAA…"? \(102\d\d characters\)/,
      `${shown}: ${r.stderr.slice(0, 300)}`,
    );
  }
});
