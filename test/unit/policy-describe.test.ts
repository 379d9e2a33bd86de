import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { defaultPolicy } from '../../src/core/policy/built-in-policy.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
import { describePolicy } from '../../src/words/describe-policy.ts';

const full = () =>
  parsePolicyText(
    readFileSync(new URL('../fixtures/policy/valid-full.yaml', import.meta.url), 'utf8'),
    'valid-full.yaml',
    { SLUICE_TEST_WEBHOOK_SECRET: 'env-secret-value' },
  );

/** The lines of one section, from its title to the next blank line. */
function section(text: string, title: string): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith(title));
  assert.ok(start >= 0, `no section ${title}`);
  const end = lines.indexOf('', start);
  return lines.slice(start, end);
}

test('the default policy description shows every limit', () => {
  const text = describePolicy(defaultPolicy());
  assert.deepEqual(section(text, 'Per client IP'), [
    'Per client IP',
    '  warn         100/min  signalled and reported, never refused',
    '  block        200/min  answered 429',
    '  concurrency  32       requests held at once; one more is 429',
  ]);
  assert.deepEqual(section(text, 'Plans'), [
    'Plans (default: standard; size = seats, devices… recorded per account)',
    '  plan        rate per account                            burst  max delay  slowed  concurrency  queue  queue timeout',
    '  standard    (60 + 2 × size) per min, within 60..600     20     10s        10      4            20     30s',
    '  enterprise  (120 + 4 × size) per min, within 120..1200  40     10s        20      8            40     30s',
  ]);
  assert.deepEqual(section(text, 'Routes'), [
    'Routes (first match wins)',
    '  name          method  path                                           class       cost  rate    notes',
    '  reports       any     /api/reports/**                                non-public  1     -',
    '  export        any     /api/exports/:dataset                          bulk        1     -       dataset from :dataset',
    '  search        GET     /api/search                                    public      5     -',
    '  full-listing  GET     /api/:collection(companies|devices|jobs|logs)  batch       1     30/min  only when modifiedAfter is absent',
  ]);
  assert.deepEqual(section(text, 'Bulk exports'), [
    'Bulk exports',
    '  1/30d per account and dataset',
  ]);
  assert.deepEqual(section(text, 'Off-hours'), [
    'Off-hours (America/New_York)',
    '  windows        Sat 00:00 – Sun 20:00',
    '                 every day 01:00 – 03:00',
    '  batch budgets  × 4 inside the windows',
    '  batch routes   allowed at any time',
  ]);
  assert.deepEqual(section(text, 'Safeguards'), [
    'Safeguards',
    '  rule                 trigger    action    durations    revoke   mode',
    '  afterAuthFailure     50 in 1m   block-ip  1h, 1d, 1w   -        enforced',
    '  ignoring429          100 in 1m  suspend   15m, 1h, 1d  after 3  enforced',
    '  malformedStorm       200 in 1m  suspend   15m, 1h, 1d  -        enforced',
    '  nonPublicAutomation  3 in 1d    revoke    -            -        enforced',
  ]);
  assert.deepEqual(section(text, 'Webhooks'), ['Webhooks', '  none']);
  assert.match(text, /^ {2}upstream {10}not set/m);
  assert.match(text, /^ {2}route paths {7}matched ignoring case/m);
});

test('a full policy: dry runs, disabled rules, webhooks by URL and never their secrets', () => {
  const text = describePolicy(full());
  assert.ok(!text.includes('env-secret-value'), 'a secret from the environment is not shown');
  assert.ok(!text.includes('inline-secret-value'), 'an inline secret is not shown');
  assert.deepEqual(section(text, 'Webhooks'), [
    'Webhooks',
    '  https://ops.example.com/sluice  warning, suspension, revocation, block',
    '  http://127.0.0.1:9999/hook      revocation',
  ]);
  const safeguards = section(text, 'Safeguards');
  assert.match(safeguards[2], /afterAuthFailure +20 in 5m +block-ip +30m, 12h +- +dry run/);
  assert.match(safeguards[4], /malformedStorm +500 in 1m +suspend +1h +- +off$/);
  assert.deepEqual(section(text, 'Off-hours'), [
    'Off-hours (Europe/Paris)',
    '  windows        Fri 22:00 – Mon 06:00',
    '                 every day 23:00 – 02:00',
    '  batch budgets  × 2.5 inside the windows',
    '  batch routes   only inside the windows',
  ]);
  assert.match(text, /basic +\(30 \+ 0\.5 × size\) per min, within 30\.\.300 +10 +5s/);
  assert.match(text, /search +POST +\/api\/\*\/search +public +5 +10\/min/);
  assert.match(text, /audit-export .* dataset audit-log/);
  assert.match(text, /trusted proxies +127\.0\.0\.1, 10\.0\.0\.0\/8, ::1, fd00::\/8/);
  assert.match(text, /route paths +matched with their case/);
});

test('table columns line up', () => {
  const rows = section(describePolicy(full()), 'Routes').slice(1);
  const at = rows[0].indexOf('class');
  for (const row of rows.slice(1)) {
    assert.match(row.slice(at), /^(public|non-public|bulk|batch) /, row);
  }
});

test('the mode comes first; plans and routes with a mode of their own say so', () => {
  assert.match(describePolicy(defaultPolicy()), /^Mode: enforce \(limits delay and refuse;/m);
  const text = describePolicy(
    parsePolicyText(
      [
        'mode: shadow',
        'plans:',
        '  trial: { mode: enforce }',
        '  gold: { mode: shadow }',
        'routes:',
        '  - { name: search, method: GET, path: /api/search, cost: 5, mode: enforce }',
        '',
      ].join('\n'),
      'p.yaml',
    ),
  );
  assert.match(
    text,
    /^Policy: p\.yaml\n\nMode: shadow \(limits decide and record, nothing is delayed or refused;/,
  );
  // gold says what the policy says: not listed.
  assert.match(text, /^ {2}own mode \(not the policy's\): trial enforce$/m);
  assert.match(text, /search +GET +\/api\/search +public +5 +- +mode enforce/);
});

test('header credential sources are shown as the policy wrote them', () => {
  const text = describePolicy(
    parsePolicyText('identity:\n  credentials: [{ header: X-Partner-Key }]\n', 'p.yaml'),
  );
  assert.match(text, /keys read from X-Partner-Key \(/);
});

test('the store is shown: memory by default; a Redis with its settings and never its password', () => {
  assert.match(
    describePolicy(defaultPolicy()),
    /^ {2}store +memory \(limits in this process, records in the data directory\)$/m,
  );
  const text = describePolicy(
    parsePolicyText(
      'store:\n  redis: redis://:s3cret-pass@127.0.0.1:6379/2\n  prefix: "eu:"\n  timeout: 80ms\n  onFailure: closed\n',
      'p.yaml',
    ),
  );
  assert.match(
    text,
    /^ {2}store +Redis redis:\/\/:\*\*\*@127\.0\.0\.1:6379\/2, prefix eu:: limits, leases, safeguard counts and records shared by every node; timeout 80ms, on failure closed, lease 10s$/m,
  );
  assert.doesNotMatch(text, /s3cret-pass/);
  const cluster = describePolicy(
    parsePolicyText('store:\n  redis: { cluster: [10.0.0.5:7000, 10.0.0.6:7000] }\n', 'p.yaml'),
  );
  assert.match(cluster, /store +Redis cluster 10\.0\.0\.5:7000,10\.0\.0\.6:7000, prefix sluice:/);
});
