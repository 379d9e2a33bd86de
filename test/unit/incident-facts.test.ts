import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type DryRunFlag,
  dryRunFlag,
  shadowOutcome,
  wasDryRun,
} from '../../src/core/incident-facts.ts';

test('a dry run is stored as yes or no', () => {
  assert.equal(dryRunFlag(true), 'yes');
  assert.equal(dryRunFlag(false), 'no');
});

test('a stored dry run reads yes, and true or 1 as a person or another tool wrote it', () => {
  // Rows written by hand or by another tool may hold other words than sluice's own.
  const stored = (v: unknown) => wasDryRun(v as DryRunFlag);
  for (const v of ['yes', 'true', '1', true]) assert.equal(stored(v), true, String(v));
  for (const v of ['no', 'false', '0', '', false, 0, 1, undefined]) {
    assert.equal(stored(v), false, String(v));
  }
});

test('shadow outcome: what a shadow-mode incident would have done, and nothing for one that acted', () => {
  assert.equal(shadowOutcome({ dryRun: 'yes', would: 'delay', delayMs: 1200 }), 'delay');
  assert.equal(shadowOutcome({ dryRun: 'yes', would: 'refuse' }), 'refuse');
  assert.equal(shadowOutcome({ dryRun: 'true', would: 'refuse' }), 'refuse');
  // Not a dry run: the limit acted, whatever `would` says.
  assert.equal(shadowOutcome({ dryRun: 'no', would: 'refuse' }), undefined);
  assert.equal(shadowOutcome({ would: 'delay' }), undefined);
  // A dry run without a limit's outcome (a safeguard's action says it in `action`).
  assert.equal(shadowOutcome({ dryRun: 'yes' }), undefined);
  assert.equal(shadowOutcome({ dryRun: 'yes', would: 'revoke' }), undefined);
  assert.equal(shadowOutcome({ dryRun: 'yes', would: '' }), undefined);
});
