/**
 * The admin listener: a token compared in constant time, Prometheus metrics, incident
 * lookup and key reinstatement for support; and a policy reload on SIGHUP.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import {
  createKey,
  type GatewayProcess,
  sluice,
  startGateway,
  tempDir,
  writePolicy,
} from '../helpers/gateway-process.ts';
import { bearer, call, closedPortUrl, eventually } from '../helpers/http.ts';

const TOKEN = 'admin-token-for-tests-0123456789';
let upstream: Awaited<ReturnType<typeof startDemoUpstream>>;
let gateway: GatewayProcess;
let dataDir: string;
let policyFile: string;

before(async () => {
  upstream = await startDemoUpstream({});
  dataDir = tempDir();
  policyFile = writePolicy(
    dataDir,
    `server:\n  upstream: ${upstream.url}\nip: { warn: 100/min, block: 200/min }\n`,
  );
  gateway = await startGateway(
    ['--config', policyFile, '--data', dataDir, '--admin', '127.0.0.1:0'],
    {
      env: { SLUICE_ADMIN_TOKEN: TOKEN },
    },
  );
});

after(async () => {
  await gateway?.stop();
  await upstream?.close();
});

const admin = (path: string, init: { method?: string; body?: string; token?: string } = {}) =>
  call(`${gateway.adminUrl}${path}`, {
    method: init.method,
    body: init.body,
    headers: {
      ...(init.token === '' ? {} : { authorization: `Bearer ${init.token ?? TOKEN}` }),
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
  });

test('the admin API needs the token', async () => {
  assert.ok(gateway.adminUrl, 'the admin listener is announced');
  assert.equal((await admin('/metrics', { token: '' })).status, 401);
  assert.equal((await admin('/metrics', { token: 'wrong' })).status, 401);
  assert.equal((await admin('/metrics', { token: `${TOKEN}x` })).status, 401);
  assert.equal((await admin('/healthz', { token: '' })).status, 200);
});

test('support looks an incident up and reinstates the key; metrics count what happened', async () => {
  const { key, id } = await createKey(dataDir, 'acct-support');
  await sluice(['keys', 'revoke', id, '--data', dataDir]);
  const refused = await eventually(async () => {
    const a = await call(`${gateway.url}/api/whoami`, { headers: bearer(key) });
    return a.status === 403 ? a : undefined;
  });
  const reference = refused.json<{ reference: string }>().reference;
  const found = await eventually(async () => {
    const a = await admin(`/admin/incidents/${reference.toLowerCase()}`);
    return a.status === 200 ? a : undefined;
  });
  const body = found.json<{
    incident: { rule: string; subject: { keyId: string } };
    explanation: { fix: string };
  }>();
  assert.equal(body.incident.rule, 'key-revoked');
  assert.equal(body.incident.subject.keyId, id);
  assert.ok(body.explanation.fix.length > 0);
  assert.ok(!found.body.includes(key), 'never the secret');
  assert.equal((await admin('/admin/incidents/RL-0000-0000')).status, 404);

  const reinstated = await admin(`/admin/keys/${id}/reinstate`, {
    method: 'POST',
    body: JSON.stringify({ reason: 'ticket 7' }),
  });
  assert.equal(reinstated.status, 200);
  assert.equal(
    (await call(`${gateway.url}/api/whoami`, { headers: bearer(key) })).status,
    200,
    'at once on this node',
  );
  const audit = (await admin(`/admin/audit?key=${id}`)).json<{
    audit: { action: string; reason: string }[];
  }>();
  assert.equal(audit.audit[0].action, 'key-reinstate');
  assert.equal(audit.audit[0].reason, 'ticket 7');

  const metrics = (await admin('/metrics')).body;
  assert.match(metrics, /sluice_refused_total\{rule="key-revoked"\} [1-9]/);
  assert.match(metrics, /sluice_forwarded_total [1-9]/);
  // The whoami calls that went through were answered 200 by the upstream.
  assert.match(metrics, /sluice_upstream_responses_total\{class="2xx"\} [1-9]/);
  assert.match(metrics, /sluice_upstream_duration_seconds_count [1-9]/);
  // The key-revoked incident was written (once per flush, not per refusal).
  assert.match(metrics, /sluice_incidents_written_total [1-9]/);
  assert.doesNotMatch(metrics, /sluice_store_errors_total\{[^}]*\} [1-9]/);
});

test('the admin API takes a key id in any case, and leaves a key already in that status as it is', async () => {
  const { key, id } = await createKey(dataDir, 'acct-any-case');
  // Typed as read over the phone: lower case, as `sluice keys revoke` accepts it.
  const revoked = await admin(`/admin/keys/${id.toLowerCase()}/revoke`, {
    method: 'POST',
    body: JSON.stringify({ reason: 'ticket 11' }),
  });
  assert.equal(revoked.status, 200, revoked.body);
  assert.equal(revoked.json<{ changed: boolean }>().changed, true);
  assert.deepEqual(
    (({ id, status, reason }) => ({ id, status, reason }))(
      revoked.json<{ key: { id: string; status: string; reason: string } }>().key,
    ),
    { id, status: 'revoked', reason: 'ticket 11' },
  );
  assert.equal(
    (await call(`${gateway.url}/api/whoami`, { headers: bearer(key) })).status,
    403,
    'at once on this node',
  );

  const again = await admin(`/admin/keys/${id}/revoke`, {
    method: 'POST',
    body: JSON.stringify({ reason: 'ticket 12' }),
  });
  assert.equal(again.status, 200);
  assert.deepEqual(
    (({ key, changed }) => [key.reason, changed])(
      again.json<{ key: { reason: string }; changed: boolean }>(),
    ),
    ['ticket 11', false],
    'unchanged, and the answer says so',
  );
  // The trail of a key, asked for in lower case as the key routes take it.
  const audit = (await admin(`/admin/audit?key=${id.toLowerCase()}`)).json<{
    audit: { action: string; reason: string }[];
  }>();
  assert.deepEqual(
    audit.audit.map((a) => [a.action, a.reason]),
    [
      ['key-revoke', 'ticket 11'],
      ['key-create', 'created with sluice keys create'],
    ],
    'one revocation in the trail',
  );
});

test("Fastify's own errors are problem+json too: bad or empty JSON, an unreadable content type, no such route", async () => {
  const { id } = await createKey(dataDir, 'acct-bad-bodies');
  const post = (body: string, type: string) =>
    call(`${gateway.adminUrl}/admin/keys/${id}/revoke`, {
      method: 'POST',
      body,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': type },
    });
  const cases: [string, Awaited<ReturnType<typeof post>>, number, string][] = [
    ['empty JSON body', await post('', 'application/json'), 400, 'bad-request'],
    ['broken JSON', await post('{"reason":', 'application/json'), 400, 'bad-request'],
    ['text body', await post('because', 'text/x-unknown'), 415, 'unsupported-media-type'],
    ['no such route', await admin('/admin/nothing-here'), 404, 'route-not-found'],
  ];
  for (const [what, answer, status, name] of cases) {
    assert.equal(answer.status, status, what);
    assert.match(answer.headers['content-type'], /^application\/problem\+json/, what);
    const body = answer.json<{ type: string; status: number; detail: string }>();
    assert.equal(body.type, `tag:sluice,2026:problem:${name}`, what);
    assert.equal(body.status, status, what);
    assert.ok(body.detail.length > 0, what);
  }
  // Nothing was revoked by the bodies it could not read.
  const keys = (await admin('/admin/keys?account=acct-bad-bodies')).json<{
    keys: { status: string }[];
  }>();
  assert.deepEqual(
    keys.keys.map((k) => k.status),
    ['active'],
  );
});

test('SIGHUP reloads the policy; a broken file keeps the running one', async () => {
  const before = await call(`${gateway.url}/api/companies?limit=1`);
  assert.match(before.headers['ratelimit-policy'], /"ip";q=200;w=60/);
  writeFileSync(
    policyFile,
    `server:\n  upstream: ${upstream.url}\nip: { warn: 10/min, block: 300/min }\n`,
  );
  gateway.child.kill('SIGHUP');
  await eventually(async () => {
    const a = await call(`${gateway.url}/api/companies?limit=1`);
    return /"ip";q=300;w=60/.test(a.headers['ratelimit-policy']) ? a : undefined;
  });
  writeFileSync(policyFile, 'ip: { warn: nonsense }\n');
  gateway.child.kill('SIGHUP');
  await eventually(async () => (/policy reload failed/.test(gateway.output()) ? true : undefined));
  const still = await call(`${gateway.url}/api/companies?limit=1`);
  assert.match(still.headers['ratelimit-policy'], /"ip";q=300;w=60/);
});

test('support lists IP blocks and lifts one; this node applies it at once, the trail says who', async () => {
  assert.equal(
    (await sluice(['ips', 'block', '127.0.0.1', '--for', '1h', '--data', dataDir])).code,
    0,
  );
  await eventually(async () => {
    const a = await call(`${gateway.url}/api/companies?limit=1`);
    return a.status === 403 && a.json<{ rule: string }>().rule === 'ip-blocked' ? a : undefined;
  });
  const listed = (await admin('/admin/ips')).json<{ blocks: { ip: string; active: boolean }[] }>();
  assert.deepEqual(
    listed.blocks.filter((b) => b.ip === '127.0.0.1').map((b) => b.active),
    [true],
  );

  const lifted = await admin('/admin/ips/127.0.0.1/unblock', {
    method: 'POST',
    body: JSON.stringify({ reason: 'ticket 9', actor: 'dana' }),
  });
  assert.equal(lifted.status, 200);
  assert.equal(
    (await call(`${gateway.url}/api/companies?limit=1`)).status,
    200,
    'at once on this node, without waiting for the poll',
  );
  const audit = (await admin('/admin/audit?limit=5')).json<{
    audit: { action: string; actor: string; reason: string; subject: { ip?: string } }[];
  }>();
  assert.deepEqual(
    { ...audit.audit[0], at: undefined, reference: undefined },
    {
      at: undefined,
      reference: undefined,
      action: 'unblock-ip',
      actor: 'admin:dana',
      reason: 'ticket 9',
      subject: { ip: '127.0.0.1' },
    },
  );

  const again = await admin('/admin/ips/127.0.0.1/unblock', { method: 'POST' });
  assert.equal(again.status, 404);
  assert.match(again.headers['content-type'], /^application\/problem\+json/);
  assert.equal((await admin('/admin/ips/not-an-ip/unblock', { method: 'POST' })).status, 400);
});

test('metrics: a slowed request lands in the delay histogram; an unreachable upstream counts as failed', async () => {
  const dir = tempDir();
  const deadUpstream = await closedPortUrl();
  const policy = writePolicy(
    dir,
    `server:\n  upstream: ${deadUpstream}\nplans:\n  standard: { base: 60/min, perUnit: 0/min, min: 60/min, max: 60/min, burst: 1, maxDelay: 5s, maxSlowed: 5, concurrency: 4, queue: 4 }\n`,
  );
  const { key } = await createKey(dir, 'acct-metrics');
  const g = await startGateway(['--config', policy, '--data', dir, '--admin', '127.0.0.1:0'], {
    env: { SLUICE_ADMIN_TOKEN: TOKEN },
  });
  try {
    const first = await call(`${g.url}/api/companies`, { headers: bearer(key) });
    const second = await call(`${g.url}/api/companies`, { headers: bearer(key) });
    assert.equal(first.status, 502);
    assert.equal(second.status, 502);
    assert.ok(Number(second.headers['sluice-delay-ms']) > 0, 'the second one was slowed');
    const metrics = (
      await call(`${g.adminUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).body;
    assert.match(metrics, /sluice_upstream_responses_total\{class="failed"\} 2\b/);
    assert.match(metrics, /sluice_delay_seconds_count 1\b/);
  } finally {
    await g.stop();
  }
});
