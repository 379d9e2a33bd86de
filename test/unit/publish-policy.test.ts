/** The published policy: what a client needs to pace itself, and nothing secret. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultPolicy } from '../../src/core/policy/built-in-policy.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
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

test('the mode is published, and a plan or route mode where it differs; so are the credential sources', () => {
  const plain = publishPolicy(defaultPolicy(), NOW);
  assert.equal(plain.mode, 'enforce');
  assert.equal(plain.headers.shadow, 'Sluice-Shadow');
  assert.deepEqual(plain.credentials, [{ authorization: 'Bearer' }, { header: 'X-API-Key' }]);
  assert.ok(!('mode' in plain.plans.standard!), 'a plan without its own mode');

  const doc = publishPolicy(
    parsePolicyText(
      [
        'mode: shadow',
        'plans:',
        '  trial: { mode: enforce }',
        '  gold: { mode: shadow }',
        'routes:',
        '  - { name: search, method: GET, path: /api/search, mode: shadow }',
        '  - { name: reports, method: GET, path: /api/reports }',
        'identity:',
        '  credentials: [{ header: X-Partner-Key }, { query: api_key }, { authorization: Token }]',
        '',
      ].join('\n'),
      'p.yaml',
    ),
    NOW,
  );
  assert.equal(doc.mode, 'shadow');
  assert.equal((doc.plans.trial as { mode?: string }).mode, 'enforce');
  assert.ok(!('mode' in doc.plans.gold!), 'the same as the policy: not repeated');
  // A route's mode wins over a plan's, so a set one is published even when it is the policy's.
  assert.equal(doc.routes.find((r) => r.name === 'search')?.mode, 'shadow');
  assert.ok(!('mode' in doc.routes.find((r) => r.name === 'reports')!));
  assert.deepEqual(doc.credentials, [
    { header: 'X-Partner-Key' },
    { query: 'api_key' },
    { authorization: 'Token' },
  ]);
});
