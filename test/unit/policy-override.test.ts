import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSluiceError } from '../../src/core/errors.ts';
import { defaultPolicy } from '../../src/core/policy/built-in-policy.ts';
import { withServerOverrides } from '../../src/core/policy/override.ts';

test('overrides replace the server settings and leave the policy given alone', () => {
  const base = defaultPolicy();
  const policy = withServerOverrides(base, {
    listen: '[::1]:0',
    upstream: 'http://127.0.0.1:3000',
    dataDir: '/tmp/sluice-data',
  });
  assert.deepEqual(policy.server.listen, { host: '::1', port: 0 });
  assert.equal(policy.server.upstream, 'http://127.0.0.1:3000');
  assert.equal(policy.server.dataDir, '/tmp/sluice-data');
  assert.equal(policy.ip, base.ip, 'the rest is shared, not copied');
  assert.equal(base.server.upstream, undefined);
  assert.ok(Object.isFrozen(policy) && Object.isFrozen(policy.server.listen));
  assert.equal(withServerOverrides(base, {}).server.listen.port, 8080);
});

test('a wrong override is a usage error that names the option', () => {
  const cases: [Record<string, string>, string][] = [
    [
      { listen: '8080' },
      '--listen: "8080" is not a listen address: write HOST:PORT, for example 127.0.0.1:8080',
    ],
    [
      { listen: '127.0.0.1:70000' },
      '--listen: "127.0.0.1:70000" has port 70000: a port is 0 to 65535',
    ],
    [
      { upstream: 'localhost:3000' },
      '--upstream: "localhost:3000" is not an http:// or https:// URL, for example http://127.0.0.1:3000',
    ],
    [{ dataDir: ' ' }, '--data: the directory name is empty'],
  ];
  for (const [overrides, message] of cases) {
    assert.throws(
      () => withServerOverrides(defaultPolicy(), overrides),
      (e: unknown) =>
        isSluiceError(e) &&
        e.code === 'SLUICE_ERR_CLI_USAGE' &&
        e.exitCode === 2 &&
        e.message === message,
      message,
    );
  }
});
