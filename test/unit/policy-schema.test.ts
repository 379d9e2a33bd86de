/**
 * The bounds of the policy schema, each with a policy it must refuse (with the exact
 * message, path, line and column the operator reads) or accept, and the wording of the
 * schema's problems.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSluiceError } from '../../src/core/errors.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
import { MAX_TIMER_MS } from '../../src/core/policy/schema.ts';

/** [path, line, column, message] of each problem; fails when the policy is accepted. */
function problems(text: string) {
  try {
    parsePolicyText(text, 'p.yaml');
  } catch (error) {
    if (!isSluiceError(error)) throw error;
    assert.equal(error.code, 'SLUICE_ERR_POLICY_INVALID');
    return error.problems.map((p) => [p.path, p.line, p.column, p.message]);
  }
  assert.fail(`accepted:\n${text}`);
}

const HOOK = 'http://127.0.0.1:9/hook';

test('a duration that must be more than 0 refuses 0, for plain and timer durations', () => {
  assert.deepEqual(problems('server:\n  upstreamTimeout: 0s\n'), [
    ['server.upstreamTimeout', 2, 20, 'a duration here must be more than 0'],
  ]);
  assert.deepEqual(problems('safeguards:\n  ignoring429:\n    window: 0s\n'), [
    ['safeguards.ignoring429.window', 3, 13, 'a duration here must be more than 0'],
  ]);
});

test('a timer may wait 24 days exactly', () => {
  const policy = parsePolicyText('server:\n  upstreamTimeout: 24d\n', 'p.yaml');
  assert.equal(policy.server.upstreamTimeoutMs, MAX_TIMER_MS);
});

test('every enumerated setting refuses a value not in its list', () => {
  const one = (path: string, line: number, column: number, allowed: string) => [
    [path, line, column, `must be one of: ${allowed}; got "quiet"`],
  ];
  assert.deepEqual(problems('mode: quiet\n'), one('mode', 1, 7, 'enforce, shadow'));
  assert.deepEqual(
    problems('plans:\n  standard:\n    mode: quiet\n'),
    one('plans.standard.mode', 3, 11, 'enforce, shadow'),
  );
  assert.deepEqual(
    problems('routes:\n  - name: a\n    path: /a\n    mode: quiet\n'),
    one('routes[0].mode', 4, 11, 'enforce, shadow'),
  );
  assert.deepEqual(
    problems('server:\n  unauthenticated: quiet\n'),
    one('server.unauthenticated', 2, 20, 'ip-only, refuse'),
  );
  assert.deepEqual(
    problems(`identity:\n  delegate:\n    url: ${HOOK}\n    onFailure: quiet\n`),
    one('identity.delegate.onFailure', 4, 16, 'refuse, anonymous'),
  );
  assert.deepEqual(
    problems(`webhooks:\n  - url: ${HOOK}\n    secret: s\n    events: [warning, quiet]\n`),
    one('webhooks[0].events[1]', 4, 23, 'warning, suspension, revocation, block'),
  );
  assert.deepEqual(
    problems('routes:\n  - name: a\n    path: /a\n    query: { q: quiet }\n'),
    one('routes[0].query.q', 4, 17, 'present, absent'),
  );
  // A number gets no suggestion.
  assert.deepEqual(problems('routes:\n  - name: a\n    path: /a\n    class: 1\n'), [
    ['routes[0].class', 4, 12, 'must be one of: public, non-public, bulk, batch; got 1'],
  ]);
});

test('a delegate may refuse or let callers through anonymous', () => {
  for (const onFailure of ['refuse', 'anonymous']) {
    const text = `identity:\n  delegate:\n    url: ${HOOK}\n    onFailure: ${onFailure}\n`;
    assert.equal(parsePolicyText(text, 'p.yaml').identity.delegate?.onFailure, onFailure);
  }
});

test('every true-or-false setting refuses anything else', () => {
  assert.deepEqual(
    problems(
      'server:\n  caseSensitiveRoutes: sometimes\n  preserveHost: 1\n  legacyRateLimitHeaders: "on"\n',
    ),
    [
      ['server.caseSensitiveRoutes', 2, 24, 'expected true or false, got "sometimes"'],
      ['server.preserveHost', 3, 17, 'expected true or false, got 1'],
      ['server.legacyRateLimitHeaders', 4, 27, 'expected true or false, got "on"'],
    ],
  );
  assert.deepEqual(problems('safeguards:\n  ignoring429:\n    enabled: yes\n    dryRun: no\n'), [
    ['safeguards.ignoring429.enabled', 3, 14, 'expected true or false, got "yes"'],
    ['safeguards.ignoring429.dryRun', 4, 13, 'expected true or false, got "no"'],
  ]);
  assert.deepEqual(problems('identity:\n  stripCredential:\n    sluice: maybe\n'), [
    ['identity.stripCredential.sluice', 3, 13, 'expected true or false, got "maybe"'],
  ]);
});

test('numbers: a multiplier of at least 1, and no infinity or NaN anywhere', () => {
  assert.deepEqual(problems('offHours:\n  batchMultiplier: 0.5\n'), [
    ['offHours.batchMultiplier', 2, 20, 'must be at least 1, got 0.5'],
  ]);
  assert.deepEqual(problems('offHours:\n  batchMultiplier: fast\n'), [
    ['offHours.batchMultiplier', 2, 20, 'expected a number, got "fast"'],
  ]);
  assert.deepEqual(problems('offHours:\n  batchMultiplier: .inf\n'), [
    ['offHours.batchMultiplier', 2, 20, 'expected a number, got Infinity'],
  ]);
  assert.deepEqual(problems('offHours:\n  batchMultiplier: .nan\n'), [
    ['offHours.batchMultiplier', 2, 20, 'expected a number, got NaN'],
  ]);
  assert.deepEqual(problems('plans:\n  standard:\n    burst: .inf\n'), [
    ['plans.standard.burst', 3, 12, 'expected a whole number, got Infinity'],
  ]);
});

test('lists and mappings refuse other values, and lists that must not be empty', () => {
  assert.deepEqual(problems('routes: 5\n'), [['routes', 1, 9, 'expected a list, got 5']]);
  assert.deepEqual(problems('routes:\n  - name: a\n    path: /a\n    query: 5\n'), [
    ['routes[0].query', 4, 12, 'expected a mapping of settings, got 5'],
  ]);
  assert.deepEqual(problems('identity:\n  credentials: []\n'), [
    ['identity.credentials', 2, 3, 'must list at least one'],
  ]);
});

test('a webhook, a delegate and a Redis cluster must say where they are', () => {
  assert.deepEqual(problems('webhooks:\n  - secret: s\n'), [
    ['webhooks[0]', 2, 5, 'missing required setting "url"'],
  ]);
  assert.deepEqual(problems('identity:\n  delegate:\n    timeout: 1s\n'), [
    ['identity.delegate', 2, 3, 'missing required setting "url"'],
  ]);
  assert.deepEqual(problems('store:\n  redis: {}\n'), [
    ['store.redis', 2, 3, 'missing required setting "cluster"'],
  ]);
});

test('a key holding "/" or "~" is named and placed as written', () => {
  // ajv escapes them in its paths (~1 and ~0); the problem must still find its key.
  const text =
    'routes:\n  - name: a\n    path: /a\n    query: { "x/y": sometimes, "p~q": maybe }\n';
  assert.deepEqual(problems(text), [
    ['routes[0].query["x/y"]', 4, 21, 'must be one of: present, absent; got "sometimes"'],
    ['routes[0].query["p~q"]', 4, 39, 'must be one of: present, absent; got "maybe"'],
  ]);
});
