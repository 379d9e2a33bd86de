/** The pure helpers of core/records.ts: audit action words and who a block refuses. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AUDIT_ACTIONS, blockRefuses, safeguardAuditAction } from '../../src/core/records.ts';

test('safeguardAuditAction names the action, key actions with key-, dry runs with dry-run', () => {
  assert.equal(safeguardAuditAction('block-ip', false), 'block-ip');
  assert.equal(safeguardAuditAction('block-ip', true), 'dry-run block-ip');
  assert.equal(safeguardAuditAction('suspend', false), 'key-suspend');
  assert.equal(safeguardAuditAction('suspend', true), 'dry-run key-suspend');
  assert.equal(safeguardAuditAction('revoke', false), 'key-revoke');
  assert.equal(safeguardAuditAction('revoke', true), 'dry-run key-revoke');
  for (const kind of ['block-ip', 'suspend', 'revoke'] as const) {
    for (const dryRun of [false, true]) {
      assert.ok(AUDIT_ACTIONS.includes(safeguardAuditAction(kind, dryRun)), `${kind} ${dryRun}`);
    }
  }
});

test('a block nobody earned refuses every caller, with a key or without', () => {
  const block = { earnedBy: undefined };
  assert.equal(blockRefuses(block, undefined), true);
  assert.equal(blockRefuses(block, { keyId: 'k1', accountId: 'acme' }), true);
});

test("a block a key earned refuses callers without a valid key and that key's account only", () => {
  const byAccount = { earnedBy: { keyId: 'k1', accountId: 'acme' } };
  assert.equal(blockRefuses(byAccount, undefined), true);
  assert.equal(blockRefuses(byAccount, { keyId: 'k1', accountId: 'acme' }), true);
  assert.equal(blockRefuses(byAccount, { keyId: 'k2', accountId: 'acme' }), true, 'same account');
  assert.equal(blockRefuses(byAccount, { keyId: 'k9', accountId: 'globex' }), false);
  assert.equal(blockRefuses(byAccount, { keyId: 'k1', accountId: 'globex' }), false);
});

test('a block earned by a key with no account known refuses that key only', () => {
  const byKey = { earnedBy: { keyId: 'k1', accountId: undefined } };
  assert.equal(blockRefuses(byKey, undefined), true);
  assert.equal(blockRefuses(byKey, { keyId: 'k1', accountId: 'acme' }), true);
  assert.equal(blockRefuses(byKey, { keyId: 'k2', accountId: 'acme' }), false);
});
