import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { AUDIT_ACTIONS } from '../../src/core/records.ts';

test('every audit action is documented in docs/incidents.md', () => {
  const doc = readFileSync(new URL('../../docs/incidents.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('## The audit trail'));
  for (const action of AUDIT_ACTIONS) {
    assert.ok(section.includes(`\`${action}\``), `${action} is missing from docs/incidents.md`);
  }
});
