/**
 * Record commands load the policy only for what they use: the data directory, and the
 * plans when an account's plan is set. A webhook's secret is not needed to list keys,
 * and without `--config` a plan is not judged by the built-in policy as if it were the
 * gateway's.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sluice, tempDir, writePolicy } from '../helpers/gateway-process.ts';

const UNSET = 'SLUICE_TEST_SECRET_NEVER_SET';

test('keys list --config works with a webhook secretEnv that is not set', async () => {
  const data = tempDir();
  const policy = writePolicy(
    tempDir(),
    `server:\n  data: ${data}\nwebhooks:\n  - url: https://hooks.example.org/sluice\n    secretEnv: ${UNSET}\n`,
  );
  const env = { [UNSET]: '' };
  const created = await sluice(['keys', 'create', '--account', 'acme', '--config', policy], {
    env,
  });
  assert.equal(created.code, 0, created.stderr);
  const listed = await sluice(['keys', 'list', '--config', policy], { env });
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /acme/);
  // serve signs webhooks, so it still needs the secret.
  const served = await sluice(['serve', '--config', policy, '--upstream', 'http://127.0.0.1:9'], {
    env,
  });
  assert.equal(served.code, 2);
  assert.match(served.stderr, new RegExp(`${UNSET} is empty`));
});

test('a plan is checked against the policy file given, and not judged by the built-in one without it', async () => {
  const data = tempDir();
  const policy = writePolicy(
    tempDir(),
    `server:\n  data: ${data}\nplans:\n  gold:\n    base: 600/min\n`,
  );
  const withFile = await sluice([
    'keys',
    'create',
    '--account',
    'a1',
    '--plan',
    'gold',
    '--config',
    policy,
  ]);
  assert.equal(withFile.code, 0, withFile.stderr);
  assert.equal(withFile.stderr, '', 'gold is in the file');

  const notInFile = await sluice([
    'keys',
    'create',
    '--account',
    'a2',
    '--plan',
    'silver',
    '--config',
    policy,
  ]);
  assert.equal(notInFile.code, 0, notInFile.stderr);
  assert.match(notInFile.stderr, /warning: plan "silver" is not in the policy .*policy\.yaml/);

  const dataOnly = await sluice([
    'keys',
    'create',
    '--account',
    'a3',
    '--plan',
    'gold',
    '--data',
    data,
  ]);
  assert.equal(dataOnly.code, 0, dataOnly.stderr);
  assert.doesNotMatch(
    dataOnly.stderr,
    /warning|the gateway uses/,
    'the built-in policy is not the judge',
  );
  assert.match(dataOnly.stderr, /plan "gold" is not checked: give --config/);

  const builtIn = await sluice([
    'keys',
    'create',
    '--account',
    'a4',
    '--plan',
    'enterprise',
    '--data',
    data,
  ]);
  assert.equal(builtIn.code, 0, builtIn.stderr);
  assert.equal(builtIn.stderr, '');

  const accounts = await sluice(['keys', 'accounts', '--data', data]);
  assert.match(accounts.stdout, /a3 +1 +gold/);
});
