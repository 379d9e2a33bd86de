/** The published policy: what a client needs to pace itself, and nothing secret. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultPolicy } from '../../src/core/policy/built-in-policy.ts';
import { publishPolicy } from '../../src/words/publish-policy.ts';

const NOW = Date.parse('2026-12-02T15:00:00Z'); // a Wednesday, 10:00 in New York

test('the per-IP limits a client meets are published: thresholds and requests held at once', () => {
  const doc = publishPolicy(defaultPolicy(), NOW);
  assert.deepEqual(doc.ip, {
    warn: { limit: 100, periodSec: 60, text: '100/min' },
    block: { limit: 200, periodSec: 60, text: '200/min' },
    concurrency: 32,
  });
  assert.deepEqual(doc.paths, { caseSensitive: false });
  assert.equal(doc.generatedAt, '2026-12-02T15:00:00.000Z');
});

test('nothing secret is published: no webhook, no trusted proxy, no data directory', () => {
  const text = JSON.stringify(publishPolicy(defaultPolicy(), NOW));
  for (const word of ['webhook', 'trustedProxies', 'secret', 'data', 'upstream']) {
    assert.ok(!text.includes(`"${word}"`), `${word} must not be published`);
  }
});
