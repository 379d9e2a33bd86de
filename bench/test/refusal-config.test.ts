/**
 * The config the peers get for the limit and for each refusal kind (HAProxy's cfg and
 * keys map, nginx's key map and deny, sluice's safeguards per kind), and the issue 11
 * targets checked against a run's figures.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
import { checkGoals } from '../lib/goals.ts';
import type { Results, TargetSummary } from '../lib/results.ts';
import { HIGH_LIMIT, LOW_LIMIT } from '../lib/target-types.ts';
import { haproxyConf, haproxyKeysMap, haproxyWindow } from '../peers/haproxy.ts';
import { nginxConf } from '../peers/nginx.ts';
import { sluicePolicyYaml } from '../peers/sluice.ts';
import { REFUSAL_LIMIT, type RefusalKindRun } from '../refusal-kinds.ts';

test('HAProxy windows: per second when the rate allows, else per minute', () => {
  assert.deepEqual(haproxyWindow(LOW_LIMIT), { max: 10, period: '60s' });
  assert.deepEqual(haproxyWindow(REFUSAL_LIMIT), { max: 100, period: '1s' });
  assert.deepEqual(haproxyWindow(HIGH_LIMIT), { max: 1_000_000, period: '1s' });
});

test('haproxy.cfg: one thread, a stick table keyed by X-API-Key, 429 past the limit, keep-alive upstream', () => {
  const cfg = haproxyConf(8081, '127.0.0.1:9000', LOW_LIMIT);
  assert.match(cfg, /^\s+nbthread 1$/m);
  assert.match(cfg, /bind 127\.0\.0\.1:8081\n/);
  assert.match(cfg, /stick-table type string len 128 size 1m expire 2m store http_req_rate\(60s\)/);
  assert.match(cfg, /http-request track-sc0 req\.hdr\(x-api-key\)/);
  assert.match(cfg, /http-request deny deny_status 429 if \{ sc_http_req_rate\(0\) gt 10 \}/);
  assert.match(cfg, /http-reuse always/);
  assert.match(cfg, /server up 127\.0\.0\.1:9000\n/);
  assert.doesNotMatch(cfg, /map\(|src 127/);
});

test('haproxy.cfg for a refusal kind: blocked IP first, then the key map, then the rate', () => {
  const cfg = haproxyConf(1, '127.0.0.1:2', REFUSAL_LIMIT, {
    kind: 'blocked-ip',
    mapFile: '/tmp/k.map',
  });
  const order = [
    'deny deny_status 403 if { src 127.0.0.1 }',
    'map(/tmp/k.map,unknown)',
    'deny_status 401 if { var(txn.key_state) -m str unknown }',
    'deny_status 403 if { var(txn.key_state) -m str suspended }',
    'track-sc0',
    'deny_status 429',
  ].map((s) => cfg.indexOf(s));
  assert.ok(!order.includes(-1), cfg);
  assert.deepEqual(
    order,
    [...order].sort((a, b) => a - b),
  );
  const rate = haproxyConf(1, '127.0.0.1:2', REFUSAL_LIMIT, { kind: 'rate', mapFile: '/m' });
  assert.doesNotMatch(rate, /src 127/);
  assert.equal(haproxyKeysMap({ kind: 'suspended', keys: ['a', 'b'] }), 'a suspended\nb ok\n');
  assert.equal(haproxyKeysMap({ kind: 'rate', keys: ['a', 'b'] }), 'a ok\nb ok\n');
});

test('nginx.conf for a refusal kind: a map of the valid keys, 401/403 returns, deny kept out of limit_req', () => {
  const keys = ['key-1', 'key-2'];
  const blocked = nginxConf('/tmp/x', 1, '127.0.0.1:2', REFUSAL_LIMIT, {
    kind: 'blocked-ip',
    keys,
  });
  assert.match(
    blocked,
    /map \$http_x_api_key \$key_state \{\s+default unknown;\s+"key-1" ok;\s+"key-2" ok;/,
  );
  assert.match(
    blocked,
    /map \$remote_addr \$limit_key \{\s+"127\.0\.0\.1" "";\s+default \$http_x_api_key;/,
  );
  assert.match(blocked, /limit_req_zone \$limit_key zone=k:10m rate=100r\/s;/);
  assert.match(
    blocked,
    /deny 127\.0\.0\.1;\s+if \(\$key_state = unknown\) \{ return 401; \}\s+if \(\$key_state = suspended\) \{ return 403; \}\s+limit_req zone=k burst=10 nodelay;/,
  );
  const suspended = nginxConf('/tmp/x', 1, '127.0.0.1:2', REFUSAL_LIMIT, {
    kind: 'suspended',
    keys,
  });
  assert.match(suspended, /"key-1" suspended;\s+"key-2" ok;/);
  assert.doesNotMatch(suspended, /deny|\$limit_key/);
  assert.match(suspended, /limit_req_zone \$http_x_api_key zone=k/);
  assert.doesNotMatch(nginxConf('/tmp/x', 1, '127.0.0.1:2', REFUSAL_LIMIT), /map |return 40/);
});

test('the sluice policy per refusal kind keeps in dry run the safeguard that would change the kind, and compiles', () => {
  const policy = (kind: 'rate' | 'suspended' | 'blocked-ip' | 'unknown') =>
    parsePolicyText(sluicePolicyYaml(REFUSAL_LIMIT, { refusal: kind }), 'bench.yaml', {});
  assert.equal(policy('rate').safeguards.ignoring429.dryRun, true);
  assert.equal(policy('rate').safeguards.afterAuthFailure.dryRun, false);
  assert.equal(policy('suspended').safeguards.ignoring429.dryRun, false);
  assert.equal(policy('suspended').safeguards.afterAuthFailure.dryRun, true);
  assert.equal(policy('blocked-ip').safeguards.ignoring429.dryRun, false);
  assert.equal(policy('blocked-ip').safeguards.afterAuthFailure.dryRun, false);
  assert.equal(policy('unknown').server.unauthenticated, 'refuse');
  assert.equal(policy('unknown').safeguards.afterAuthFailure.dryRun, true);
});

function summary(name: string, rps: number, p50Ms: number, p99Ms: number): TargetSummary {
  return {
    name,
    label: name,
    limits: true,
    status: 'measured',
    runs: [],
    median: { rps, p50Ms, p99Ms, non2xx: 0, socketErrors: 0, noiseCores: 0 },
  };
}

const paced = (p99Ms: number) => ({
  sent: 250,
  completed: 250,
  status: { '200': 250 },
  errors: 0,
  p50Ms: 1,
  p99Ms,
  maxMs: p99Ms,
});

function kindRun(rejectedPerSec: number, alone?: number, flood?: number): RefusalKindRun {
  return {
    kind: 'rate',
    floodStatus: 429,
    flood: { rejectedPerSec, servedPerSec: 100, p99Ms: 3, socketErrors: 0 },
    ...(alone === undefined ? {} : { calmAlone: paced(alone), calmWithFlood: paced(flood ?? 0) }),
  };
}

test('the issue 11 targets: met, missed with the figures, pending without them', () => {
  const sluice = {
    ...summary('sluice', 9000, 4, 10),
    vsNginx: 0.5,
    vsFastify: 1.5,
    vsNodeMinimal: 0.95,
  };
  const results = {
    targets: [summary('nginx', 20_000, 2, 4), sluice],
    scenarios: {
      rejectionCost: {},
      isolation: {},
      skipped: {},
      refusalKinds: {
        sluice: { rate: kindRun(30_000, 2, 5), suspended: kindRun(20_000, 2, 3) },
        nginx: { rate: kindRun(50_000, 2, 4), suspended: kindRun(50_000, 2, 4) },
        fastify: { rate: kindRun(15_000) },
      },
    },
  } as unknown as Results;
  const goals = new Map(checkGoals(results).map((g) => [g.target, g]));
  const v = (t: string) => goals.get(t)?.verdict;
  assert.equal(v('sluice req/s ÷ nginx limit_req'), 'met');
  assert.equal(v('sluice req/s ÷ Fastify peer'), 'missed');
  assert.equal(goals.get('sluice req/s ÷ Fastify peer')?.figures, '1.50×');
  assert.equal(v('sluice req/s ÷ minimal node:http + undici proxy'), 'met');
  assert.equal(v("sluice p99 ÷ nginx's p99"), 'met'); // 10 / 4 = 2.5 ≤ 3
  assert.equal(v('sluice p99 ÷ its own p50'), 'missed'); // 10 / 4 = 2.5 > 2
  assert.equal(v("sluice 429/s ÷ Fastify peer's"), 'met'); // 2×
  assert.equal(v("sluice 429/s ÷ nginx's"), 'met'); // 0.6×
  const calm = (k: string) =>
    goals.get(`calm partner's p99 flood ÷ alone, ${k} flood: sluice ÷ nginx`);
  assert.equal(calm('rate')?.verdict, 'missed'); // 2.5× vs 2×
  assert.equal(calm('rate')?.figures, '1.25× (sluice 2.50×, nginx 2.00×)');
  assert.equal(calm('suspended')?.verdict, 'met'); // 1.5× vs 2×
  assert.equal(calm('blocked-ip')?.verdict, 'pending');
  assert.equal(checkGoals(results).length, 11);
});
