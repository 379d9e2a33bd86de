import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSluiceError } from '../../src/core/errors.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';

/** The problems of a policy text, as `path: message` lines. */
function mistakes(text: string): string[] {
  try {
    parsePolicyText(text, 'p.yaml');
  } catch (error) {
    assert.ok(isSluiceError(error));
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail(`no mistake found in ${text}`);
}

test('store: memory by default; redis with its defaults filled in', () => {
  assert.deepEqual(parsePolicyText('', 'p.yaml').store, { kind: 'memory' });
  assert.deepEqual(parsePolicyText('store: {redis: "redis://10.0.0.5:6379/2"}', 'p.yaml').store, {
    kind: 'redis',
    redis: { url: 'redis://10.0.0.5:6379/2' },
    prefix: 'sluice:',
    timeoutMs: 50,
    onFailure: 'open',
    leaseMs: 10_000,
  });
  const cluster = parsePolicyText(
    'store:\n  redis: { cluster: [10.0.0.5:7000, "redis-b:7001"] }\n  prefix: "eu:"\n  timeout: 20ms\n  onFailure: closed\n  lease: 3s\n',
    'p.yaml',
  ).store;
  assert.deepEqual(cluster, {
    kind: 'redis',
    redis: {
      cluster: [
        { host: '10.0.0.5', port: 7000 },
        { host: 'redis-b', port: 7001 },
      ],
    },
    prefix: 'eu:',
    timeoutMs: 20,
    onFailure: 'closed',
    leaseMs: 3_000,
  });
});

test('store: each mistake is reported at its path, in plain words', () => {
  assert.deepEqual(mistakes('store: memroy'), [
    'store: must be one of: memory; got "memroy" (did you mean "memory"?)',
  ]);
  assert.deepEqual(mistakes('store:\n  redis: http://127.0.0.1:6379\n'), [
    'store.redis: "http://127.0.0.1:6379" is not a Redis URL: write redis://HOST:PORT (or rediss:// for TLS), for example redis://127.0.0.1:6379',
  ]);
  assert.deepEqual(mistakes('store: {redis: "redis://h:6379/x/y"}'), [
    'store.redis: "redis://h:6379/x/y" has path "/x/y": only a database number, like /0, may follow the address',
  ]);
  assert.deepEqual(mistakes('store: {redis: {cluster: [a:0]}}'), [
    'store.redis.cluster[0]: "a:0" has port 0: a node listens on a port from 1 to 65535',
  ]);
  assert.deepEqual(mistakes('store: {redis: {cluster: []}}'), [
    'store.redis.cluster: must list at least one',
  ]);
  assert.deepEqual(mistakes('store: {prefix: "x"}'), ['store: missing required setting "redis"']);
  assert.deepEqual(mistakes('store: {redis: "redis://h:6379", lease: 300ms}'), [
    'store.lease: lease (300ms) must be at least 1s: a node renews its leases every third of it, and a shorter one would expire under running requests at the first slow answer from Redis',
  ]);
  assert.deepEqual(mistakes('store: {redis: "redis://h:1", onFailure: maybe, timeot: 5ms}'), [
    'store.onFailure: must be one of: open, closed; got "maybe"',
    'store.timeot: unknown setting "timeot" (did you mean "timeout"?)',
  ]);
});
