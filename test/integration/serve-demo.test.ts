/** `npm start` = `sluice serve --demo`: the demo API behind sluice, with a key to try. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sluice, startGateway, tempDir } from '../helpers/gateway-process.ts';
import { call } from '../helpers/http.ts';

test('the demo prints a key and a curl line that work', async () => {
  const data = tempDir();
  const gateway = await startGateway(['--demo', '--data', data]);
  try {
    const key = /shown once\): (\S+)/.exec(gateway.output())?.[1];
    assert.ok(key, gateway.output());
    const curl = /curl -i -H "Authorization: Bearer (\S+)" (\S+)/.exec(gateway.output());
    assert.ok(curl);
    assert.equal(curl[1], key);
    const answer = await call(curl[2], { headers: { authorization: `Bearer ${key}` } });
    assert.equal(answer.status, 200);
    assert.match(answer.headers['ratelimit-policy'], /"account";q=\d+;w=60/);
    assert.equal(answer.json<{ data: unknown[] }>().data.length, 2);
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
