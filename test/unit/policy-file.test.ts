import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isSluiceError } from '../../src/core/errors.ts';
import { defaultPolicy } from '../../src/core/policy/built-in-policy.ts';
import { loadPolicy } from '../../src/policy-file.ts';

test('no path: the built-in default policy', () => {
  assert.equal(loadPolicy(undefined), defaultPolicy());
});

test('reads and compiles a file, resolving secretEnv from the environment given', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-policy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, 'webhooks:\n  - url: https://x.example\n    secretEnv: HOOK\n');
  const policy = loadPolicy(file, { HOOK: 'k1' });
  assert.equal(policy.source, file);
  assert.equal(policy.webhooks[0].secret, 'k1');
  assert.throws(
    () => loadPolicy(file, {}),
    (e: unknown) => isSluiceError(e) && e.code === 'SLUICE_ERR_POLICY_INVALID' && e.exitCode === 2,
  );
});

test('a file that cannot be read says why, with exit status 2', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-policy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const missing = join(dir, 'nope.yaml');
  for (const [path, reason] of [
    [missing, 'there is no such file'],
    [dir, 'it is a directory, not a file'],
  ]) {
    assert.throws(
      () => loadPolicy(path),
      (e: unknown) =>
        isSluiceError(e) &&
        e.code === 'SLUICE_ERR_POLICY_UNREADABLE' &&
        e.exitCode === 2 &&
        e.message === `cannot read the policy file ${path}: ${reason}`,
    );
  }
});
