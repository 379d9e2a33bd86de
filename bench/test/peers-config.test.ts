import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
import { HIGH_LIMIT, LOW_LIMIT } from '../lib/target-types.ts';
import { fastifyWindow } from '../peers/fastify-rate-limit.ts';
import { nginxConf, nginxRate } from '../peers/nginx.ts';
import { sluicePolicyYaml } from '../peers/sluice.ts';
import { extractKey } from '../peers/sluice-make-keys.ts';
import { madeUpKeys } from '../scenarios.ts';

test('nginx rates: whole per-second rates in r/s, the rest in r/m', () => {
  assert.equal(nginxRate(LOW_LIMIT.perMinute), '10r/m');
  assert.equal(nginxRate(6000), '100r/s');
  assert.equal(nginxRate(HIGH_LIMIT.perMinute), '1000000r/s');
});

test('nginx.conf: one worker, keep-alive upstream, limit_req keyed by X-API-Key', () => {
  const conf = nginxConf('/tmp/x', 8081, '127.0.0.1:9000', LOW_LIMIT);
  assert.match(conf, /^worker_processes 1;/m);
  assert.match(conf, /limit_req_zone \$http_x_api_key zone=k:10m rate=10r\/m;/);
  assert.match(conf, /limit_req zone=k burst=5 nodelay;/);
  assert.match(conf, /limit_req_status 429;/);
  assert.match(conf, /server 127\.0\.0\.1:9000;\s+keepalive 64;/);
  assert.match(conf, /proxy_http_version 1\.1;\s+proxy_set_header Connection "";/);
  assert.match(conf, /listen 127\.0\.0\.1:8081;/);
});

test('Fastify windows: per second when the rate allows, else per minute', () => {
  assert.deepEqual(fastifyWindow(LOW_LIMIT), { max: 10, windowMs: 60_000 });
  assert.deepEqual(fastifyWindow({ ...LOW_LIMIT, perMinute: 6000 }), { max: 100, windowMs: 1000 });
});

test('the sluice policy sets every plan field and IP limits far above the load', () => {
  const policy = parse(sluicePolicyYaml(LOW_LIMIT));
  assert.deepEqual(policy.plans.standard, {
    base: '10/min',
    perUnit: '0/min',
    min: '10/min',
    max: '10/min',
    burst: 5,
    maxDelay: '0s',
    maxSlowed: 0,
    concurrency: 1000,
    queue: 1000,
  });
  assert.equal(parse(sluicePolicyYaml(HIGH_LIMIT)).plans.standard.maxDelay, '1s');
  assert.match(policy.ip.warn, /^\d+\/min$/);
  assert.ok(Number.parseInt(policy.ip.warn, 10) >= 60_000_000);
  // wrk's 50 connections all come from 127.0.0.1: more than the default 32 held at once.
  assert.ok(policy.ip.concurrency >= 10_000);
  assert.equal(parsePolicyText(sluicePolicyYaml(HIGH_LIMIT), 'b.yaml', {}).ip.concurrency, 100_000);
});

test('extractKey finds the key in the shapes `keys create` may print', () => {
  assert.equal(extractKey('sk_live_abcdefghijklmnop\n'), 'sk_live_abcdefghijklmnop');
  assert.equal(extractKey('{"keyId":"k1","key":"sk_1234567890abcdef"}'), 'sk_1234567890abcdef');
  assert.equal(
    extractKey('created key k_01 for acct-1\nkey: sk_1234567890abcdefXYZ\nstore it now'),
    'sk_1234567890abcdefXYZ',
  );
  assert.equal(
    extractKey('Created a key for acct-7 (id kid_12345678)\n\n  sluice_abcdefghijklmnopqrstuvwx\n'),
    'sluice_abcdefghijklmnopqrstuvwx',
  );
  // What `sluice keys create` prints (November 2026).
  const printed = [
    'Created account acct-1 (size 1, plan (default)).',
    'Created API key HGZVVQTDEB for account acct-1:',
    '',
    '  sk_HGZVVQTDEB_LQozqz4gDDikMA6tDI7SRxZWXIEMl177',
    '',
    'This is the only time the key is shown: sluice stores only its hash and cannot show it again.',
    'Copy it now into the integration’s secret store. Logs, incidents and support use the id only.',
  ].join('\n');
  assert.equal(extractKey(printed), 'sk_HGZVVQTDEB_LQozqz4gDDikMA6tDI7SRxZWXIEMl177');
  assert.equal(extractKey('\n'), undefined);
});

test('the unknown-key flood policy refuses made-up keys and keeps the IP safeguard in dry run, and compiles', () => {
  const text = sluicePolicyYaml(LOW_LIMIT, { refuseUnknownKeys: true });
  const policy = parsePolicyText(text, 'bench-policy.yaml', {});
  assert.equal(policy.server.unauthenticated, 'refuse');
  assert.equal(policy.safeguards.afterAuthFailure.dryRun, true);
  assert.equal(parse(sluicePolicyYaml(LOW_LIMIT)).server, undefined, 'only when asked');
});

test('made-up keys have the shape of real keys and are all different', () => {
  const keys = madeUpKeys(1000);
  assert.equal(new Set(keys).size, 1000);
  for (const k of keys) assert.match(k, /^sk_[0-9A-HJKMNP-TV-Z]{10}_[0-9A-Za-z]{32}$/);
});
