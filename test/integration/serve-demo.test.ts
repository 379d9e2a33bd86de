/** `npm start` = `sluice serve --demo`: the demo API behind sluice, with a key to try. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { sluice, startGateway, tempDir } from '../helpers/gateway-process.ts';
import { call } from '../helpers/http.ts';

test('the demo prints a key and a curl line that work: a plain GET by id, not a batch listing', async () => {
  const data = tempDir();
  const gateway = await startGateway(['--demo', '--data', data]);
  try {
    const exported = /export SLUICE=(\S+) KEY=(\S+)/.exec(gateway.output());
    assert.ok(exported, gateway.output());
    const [, url, key] = exported;
    assert.equal(url, gateway.url);
    const curl = /curl -i -H "Authorization: Bearer \$KEY" \$SLUICE(\S+)/.exec(gateway.output());
    assert.ok(curl, gateway.output());
    const answer = await call(`${url}${curl[1]}`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(answer.status, 200);
    assert.match(answer.headers['ratelimit-policy'], /"account";q=\d+;w=60/);
    assert.doesNotMatch(answer.headers['ratelimit-policy'], /route-/, 'no route rule applies');
    assert.equal(answer.json<{ id: string }>().id, 'cmp-0001');
    const listed = await sluice(['keys', 'list', '--data', data]);
    assert.match(listed.stdout, /demo/);
    assert.ok(!listed.stdout.includes(key), 'the list never shows a secret');
  } finally {
    assert.equal(await gateway.stop(), 0);
  }
});

test('bad arguments are one plain line and exit 2, never a stack trace', async () => {
  for (const args of [
    ['serve', '--listen', 'nowhere'],
    ['serve', '--upstream', 'not a url'],
    ['serve', '--bogus'],
    ['serve', '--config', '/nonexistent/policy.yaml'],
    ['serve', '--demo', '--upstream', 'http://127.0.0.1:1'],
  ]) {
    const r = await sluice(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^sluice: .+\[SLUICE_ERR_[A-Z_]+\]\n/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  const noUpstream = await sluice(['serve', '--data', tempDir()]);
  assert.equal(noUpstream.code, 2);
  assert.match(noUpstream.stderr, /no upstream/);
});

test('stdout carries JSON lines only, with a listening line; the banner is on stderr', async () => {
  const data = tempDir();
  const gateway = await startGateway(['--demo', '--data', data]);
  let stdout: string;
  try {
    await call(`${gateway.url}/healthz`);
  } finally {
    assert.equal(await gateway.stop(), 0);
    stdout = gateway.stdout();
  }
  const lines = stdout.split('\n').filter((l) => l !== '');
  assert.ok(lines.length > 0, 'something is logged');
  const parsed = lines.map((l): Record<string, unknown> => {
    try {
      return JSON.parse(l);
    } catch {
      return assert.fail(`a stdout line is not JSON: ${l}`);
    }
  });
  const listening = parsed.find((l) => l.event === 'listening');
  assert.ok(listening, stdout);
  assert.equal(listening.url, gateway.url);
  assert.equal(typeof listening.upstream, 'string');
  assert.ok(
    parsed.some((l) => l.event === 'stopping' && l.signal === 'SIGTERM'),
    stdout,
  );
  assert.match(gateway.output(), /Demo API key \(shown once/, 'the banner is still shown');
  assert.ok(!stdout.includes('shown once'), 'the demo key is not in the log stream');
});

test('the demo keeps its own data directory and revokes its key on exit', async () => {
  const cwd = tempDir();
  const gateway = await startGateway(['--demo'], { cwd });
  let output: string;
  try {
    output = gateway.output();
  } finally {
    assert.equal(await gateway.stop(), 0);
  }
  assert.ok(!existsSync(join(cwd, 'data', 'sluice.db')), 'nothing in the real ./data');
  assert.match(output, /data: data\/demo/);
  assert.match(output, /npx sluice incident RL-XXXX-XXXX --data data\/demo/);
  const listed = await sluice(['keys', 'list', '--json', '--data', join(cwd, 'data', 'demo')]);
  assert.equal(listed.code, 0, listed.stderr);
  const keys = JSON.parse(listed.stdout) as { accountId: string; status: string }[];
  assert.equal(keys.length, 1);
  assert.equal(keys[0].accountId, 'demo');
  assert.equal(keys[0].status, 'revoked', 'a demo key printed in a terminal dies with the demo');
});
