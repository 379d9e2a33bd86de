/**
 * A hostile client rewrites the path of a ruled route in every way an upstream still
 * routes it (percent-encoding, dot-segments, absolute-form, case, `;params`, trailing
 * dots…). Through a real gateway with the default policy, in front of the real demo
 * upstream (Fastify, which decodes paths), each variant must either be refused with 400
 * problem+json without reaching the upstream, or be treated as the rule it targets:
 * reports refused and counted as a non-public attempt, exports counted against the
 * dataset's allowance, search charged its cost, full listings held to their rate.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { type App, buildApp } from '../../src/app.ts';
import { generateApiKey } from '../../src/core/api-key.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
import { type DemoUpstream, startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import { MemoryRecordStore } from '../../src/store/memory-record-store.ts';
import { bearer, call, eventually } from '../helpers/http.ts';
import { type RawAnswer, rawRequest } from '../helpers/raw-http.ts';

type Rule = 'reports' | 'export' | 'search' | 'full-listing';

interface Variant {
  method: string;
  target: string;
  /** The route the variant is aimed at. */
  aims: Rule;
  /** What sluice must do: refuse it as a bad path, or apply the route's rule. */
  expect: 400 | 'rule';
}

const ISO = '2020-01-01T00:00:00Z';

const VARIANTS: Variant[] = [
  // The report renderer: non-public, a key must never reach it.
  { method: 'POST', target: '/api/%72eports', aims: 'reports', expect: 'rule' },
  { method: 'POST', target: '/api/re%70orts', aims: 'reports', expect: 'rule' },
  { method: 'POST', target: '/api/%72%65%70%6F%72%74%73', aims: 'reports', expect: 'rule' },
  { method: 'POST', target: 'http://evil.example/api/reports', aims: 'reports', expect: 'rule' },
  {
    method: 'POST',
    target: 'HTTPS://evil.example:8443/api/reports',
    aims: 'reports',
    expect: 'rule',
  },
  { method: 'POST', target: '/api/./reports', aims: 'reports', expect: 'rule' },
  { method: 'POST', target: '/api/x/../reports', aims: 'reports', expect: 'rule' },
  { method: 'POST', target: '/api/x/%2e%2e/reports', aims: 'reports', expect: 'rule' },
  { method: 'POST', target: '/api/x/.%2E/reports', aims: 'reports', expect: 'rule' },
  { method: 'POST', target: '/api/%2e/reports', aims: 'reports', expect: 'rule' },
  { method: 'POST', target: '/api/reports;x=1', aims: 'reports', expect: 'rule' },
  { method: 'POST', target: '/api/reports%3Bx', aims: 'reports', expect: 'rule' },
  { method: 'POST', target: '/api/reports.', aims: 'reports', expect: 'rule' },
  { method: 'POST', target: '/api/reports%20', aims: 'reports', expect: 'rule' },
  { method: 'POST', target: '//api/reports', aims: 'reports', expect: 'rule' },
  { method: 'POST', target: '/api//reports', aims: 'reports', expect: 'rule' },
  { method: 'POST', target: '/API/REPORTS', aims: 'reports', expect: 'rule' },
  { method: 'POST', target: '/Api/RePorts', aims: 'reports', expect: 'rule' },
  { method: 'POST', target: '/api/reports#x', aims: 'reports', expect: 'rule' },
  { method: 'POST', target: '/api/reports/', aims: 'reports', expect: 'rule' },
  { method: 'GET', target: '/api/reports/%2e', aims: 'reports', expect: 'rule' },
  { method: 'POST', target: '/api%2freports', aims: 'reports', expect: 400 },
  { method: 'POST', target: '/api%2Freports', aims: 'reports', expect: 400 },
  { method: 'POST', target: '/api\\reports', aims: 'reports', expect: 400 },
  { method: 'POST', target: '/api%5creports', aims: 'reports', expect: 400 },
  { method: 'POST', target: '/api/reports%00', aims: 'reports', expect: 400 },
  { method: 'POST', target: '/api/%2572eports', aims: 'reports', expect: 400 },
  { method: 'POST', target: '/api/x/%C0%AE%C0%AE/reports', aims: 'reports', expect: 400 },
  { method: 'POST', target: '/api/x/..;/reports', aims: 'reports', expect: 400 },
  { method: 'POST', target: '/../api/reports', aims: 'reports', expect: 400 },
  { method: 'POST', target: '/api/reports%zz', aims: 'reports', expect: 400 },
  // (OPTIONS * is sluice's own 204, never forwarded: test/hostile/smuggling-oversize.test.ts)
  { method: 'POST', target: '*', aims: 'reports', expect: 400 },
  { method: 'POST', target: 'api/reports', aims: 'reports', expect: 400 },
  // Bulk exports: one per account and dataset per 30 days.
  { method: 'GET', target: '/api/%65xports/devices', aims: 'export', expect: 'rule' },
  { method: 'GET', target: '/api/exports/%64evices', aims: 'export', expect: 'rule' },
  { method: 'GET', target: '/api/exports/devices;x', aims: 'export', expect: 'rule' },
  { method: 'GET', target: '/api/exports/devices.', aims: 'export', expect: 'rule' },
  { method: 'GET', target: '/API/Exports/devices', aims: 'export', expect: 'rule' },
  { method: 'GET', target: '/api/exports/DEVICES', aims: 'export', expect: 'rule' },
  {
    method: 'GET',
    target: 'http://evil.example/api/exports/devices',
    aims: 'export',
    expect: 'rule',
  },
  { method: 'GET', target: '/api/exports/x/../devices', aims: 'export', expect: 'rule' },
  { method: 'GET', target: '/api/exports%2fdevices', aims: 'export', expect: 400 },
  // Search: costs 5.
  { method: 'GET', target: '/api/%73earch?q=a', aims: 'search', expect: 'rule' },
  { method: 'GET', target: '/api/Search?q=a', aims: 'search', expect: 'rule' },
  { method: 'HEAD', target: '/api/search?q=a', aims: 'search', expect: 'rule' },
  { method: 'GET', target: '/api/search;x?q=a', aims: 'search', expect: 'rule' },
  { method: 'GET', target: '/api//search?q=a', aims: 'search', expect: 'rule' },
  { method: 'GET', target: 'http://evil.example/api/search?q=a', aims: 'search', expect: 'rule' },
  // Full listings (no modifiedAfter): batch, with a rate of their own.
  { method: 'GET', target: '/api/%64evices?limit=1', aims: 'full-listing', expect: 'rule' },
  { method: 'GET', target: '/API/devices?limit=1', aims: 'full-listing', expect: 'rule' },
  {
    method: 'GET',
    target: `/api/devices?MODIFIEDAFTER=${ISO}&limit=1`,
    aims: 'full-listing',
    expect: 'rule',
  },
  {
    method: 'GET',
    target: `/api/devices?modifiedAfter[]=${ISO}&limit=1`,
    aims: 'full-listing',
    expect: 'rule',
  },
  {
    method: 'GET',
    target: '/api/devices?modifiedAfter=&limit=1',
    aims: 'full-listing',
    expect: 'rule',
  },
];

const PLAIN: Record<Rule, { method: string; target: string }> = {
  reports: { method: 'POST', target: '/api/reports' },
  export: { method: 'GET', target: '/api/exports/devices' },
  search: { method: 'GET', target: '/api/search?q=a' },
  'full-listing': { method: 'GET', target: '/api/devices?limit=1' },
};

let upstream: DemoUpstream;
let app: App;
let gateway: string;
const store = new MemoryRecordStore();
/** Keys of fresh accounts, made before the gateway starts (its key cache loads them). */
const freshKeys: string[] = [];

before(async () => {
  upstream = await startDemoUpstream({ reportDelayMs: 0 });
  for (let i = 0; i < 80; i++) {
    const key = generateApiKey();
    const accountId = `acct-${i}`;
    store.putAccount({ id: accountId, size: 0, plan: 'standard', createdAt: 0 });
    store.putKey({
      id: key.id,
      accountId,
      hash: key.hash,
      status: 'active',
      suspendedUntil: undefined,
      createdAt: 0,
      updatedAt: 0,
      reason: undefined,
    });
    freshKeys.push(key.secret);
  }
  // The default policy: only the upstream and a free loopback port are set.
  const policy = parsePolicyText(
    `server:\n  listen: 127.0.0.1:0\n  upstream: ${upstream.url}\n`,
    'path-variants',
  );
  app = await buildApp({ policy, recordStore: store, logger: createLogger({ level: 'silent' }) });
  gateway = (await app.listen()).url;
});

after(async () => {
  await app?.close();
  await upstream?.close();
});

function freshKey(): string {
  const key = freshKeys.shift();
  assert.ok(key !== undefined, 'the test needs more fresh keys');
  return key;
}

async function upstreamHits(): Promise<number> {
  return (await call(`${upstream.url}/_test/hits`)).json<{ total: number }>().total;
}

function rule(answer: RawAnswer): string | undefined {
  try {
    return (JSON.parse(answer.body) as { rule?: string }).rule;
  } catch {
    return undefined;
  }
}

/** The `r` of the account's RateLimit entry: what is left of its budget. */
function accountRemaining(answer: RawAnswer): number {
  const m = /"account";r=(\d+)/.exec(answer.headers.ratelimit ?? '');
  assert.ok(m, `no account entry in RateLimit: ${JSON.stringify(answer.headers)}`);
  return Number(m[1]);
}

async function send(variant: { method: string; target: string }, key: string) {
  return rawRequest(gateway, variant.method, variant.target, bearer(key));
}

/** Refused as a bad path: 400 problem+json, and nothing reached the upstream. */
async function assertRefused(v: Variant, key: string) {
  const before = await upstreamHits();
  const answer = await send(v, key);
  const where = `${v.method} ${v.target}`;
  assert.equal(answer.status, 400, `${where}: ${answer.status} ${answer.body.slice(0, 200)}`);
  assert.equal(answer.headers['content-type'], 'application/problem+json', where);
  assert.equal(await upstreamHits(), before, `${where} reached the upstream`);
}

async function assertRuled(v: Variant, key: string) {
  const where = `${v.method} ${v.target}`;
  const before = await upstreamHits();
  const answer = await send(v, key);
  const seen = `${where}: ${answer.status} ${answer.body.slice(0, 200)}`;
  switch (v.aims) {
    case 'reports': {
      // Refused, never forwarded, and counted: the 3rd attempt revokes the key.
      assert.equal(answer.status, 403, seen);
      assert.equal(rule(answer), 'non-public', seen);
      for (let i = 0; i < 2; i++) assert.equal((await send(v, key)).status, 403, seen);
      assert.equal(await upstreamHits(), before, `${where} reached the upstream`);
      const revoked = await eventually(async () => {
        const r = await send({ method: 'GET', target: '/api/devices/dev-00001' }, key);
        return r.status === 403 ? r : undefined;
      });
      assert.equal(rule(revoked), 'key-revoked', `${where} was not counted as non-public`);
      return;
    }
    case 'export': {
      // Counted against the devices allowance: the plain export after it is refused.
      assert.notEqual(answer.status, 429, seen);
      const plain = await send(PLAIN.export, key);
      assert.equal(plain.status, 429, `${where} was not counted as an export of devices`);
      assert.equal(rule(plain), 'bulk-export');
      return;
    }
    case 'search': {
      // Whatever the upstream answers (Fastify is case-sensitive: 404), the cost is paid.
      assert.equal(accountRemaining(answer), plainSearchRemaining, `${seen}: not charged 5`);
      return;
    }
    case 'full-listing': {
      assert.match(
        answer.headers['ratelimit-policy'] ?? '',
        /"route-full-listing"/,
        `${seen}: escaped the full listing's rate`,
      );
      return;
    }
  }
}

let plainSearchRemaining = -1;

test('the plain paths are ruled as the policy says (the baseline the variants compare to)', async () => {
  const search = await send(PLAIN.search, freshKey());
  assert.equal(search.status, 200);
  plainSearchRemaining = accountRemaining(search);
  const publicCall = await send({ method: 'GET', target: '/api/devices/dev-00001' }, freshKey());
  assert.equal(accountRemaining(publicCall), plainSearchRemaining + 4, 'search costs 5, a GET 1');
  for (const v of Object.entries(PLAIN).map(([aims, p]) => ({ ...p, aims: aims as Rule }))) {
    await assertRuled({ ...v, expect: 'rule' }, freshKey());
  }
});

test(`${VARIANTS.length} hostile path variants are refused or ruled, never walked around`, async () => {
  assert.ok(VARIANTS.length >= 30);
  const failures: string[] = [];
  for (const v of VARIANTS) {
    try {
      if (v.expect === 400) await assertRefused(v, freshKey());
      else await assertRuled(v, freshKey());
    } catch (error) {
      failures.push((error as Error).message.split('\n')[0]);
    }
  }
  assert.deepEqual(
    failures,
    [],
    `${failures.length} variants walked around:\n${failures.join('\n')}`,
  );
});

test('no variant reached the report handler: the first report the upstream makes is its first', async () => {
  const direct = await call(`${upstream.url}/api/reports`, { method: 'POST' });
  assert.equal(direct.status, 202);
  assert.equal(direct.json<{ reportId: string }>().reportId, 'rpt-000001');
});

test('a second export of the same dataset through another variant is refused', async () => {
  const key = freshKey();
  const first = await send({ method: 'GET', target: '/api/exports/%64evices' }, key);
  assert.equal(first.status, 200);
  const second = await send({ method: 'GET', target: 'http://x/API/%65xports/./Devices.' }, key);
  assert.equal(second.status, 429);
  assert.equal(rule(second), 'bulk-export');
});

test('a refused path says what is wrong, as problem+json with rule bad-path', async () => {
  const answer = await send({ method: 'GET', target: '/api%2Fdevices' }, freshKey());
  assert.equal(answer.status, 400);
  assert.deepEqual(JSON.parse(answer.body), {
    type: 'tag:sluice,2026:problem:bad-path',
    title: 'Bad Request',
    status: 400,
    detail:
      'The request target cannot be made canonical: the path contains an encoded slash (%2F).',
    rule: 'bad-path',
    reason: 'encoded-slash',
  });
});

test('the upstream gets the canonical target, never the authority or the escapes the client chose', async () => {
  const key = freshKey();
  const seen = await send(
    { method: 'GET', target: 'http://evil.example/api/x/%2E%2E//%77hoami?a=%41&b' },
    key,
  );
  assert.equal(seen.status, 200, seen.body);
  const hits = (await call(`${upstream.url}/_test/hits`)).json<{ paths: Record<string, number> }>();
  assert.equal(hits.paths['/api/whoami'], 1, JSON.stringify(hits.paths));
  const who = JSON.parse(seen.body) as { headers: Record<string, string> };
  // The Host header is kept (server.preserveHost), never the absolute-form target's authority.
  assert.equal(who.headers.host, new URL(gateway).host, 'the target chose no host');
});

test('a WebSocket upgrade is forwarded with the canonical target too', async () => {
  const ws = createServer();
  ws.on('upgrade', (req, socket) => {
    socket.end(
      `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nx-seen-path: ${req.url}\r\n\r\n`,
    );
  });
  await new Promise<void>((r) => ws.listen(0, '127.0.0.1', r));
  const policy = parsePolicyText(
    `server:\n  listen: 127.0.0.1:0\n  upstream: http://127.0.0.1:${(ws.address() as AddressInfo).port}\n`,
    'path-variants-ws',
  );
  const wsApp = await buildApp({
    policy,
    recordStore: new MemoryRecordStore(),
    logger: createLogger({ level: 'silent' }),
  });
  try {
    const url = (await wsApp.listen()).url;
    const upgrade = { connection: 'Upgrade', upgrade: 'websocket' };
    const opened = await rawRequest(
      url,
      'GET',
      'http://evil.example/a/../%73ocket?room=1',
      upgrade,
    );
    assert.equal(opened.status, 101);
    assert.equal(opened.headers['x-seen-path'], '/socket?room=1');
    const refused = await rawRequest(url, 'GET', '/a/%2e%2e/%2e%2e/socket', upgrade);
    assert.equal(refused.status, 400);
    assert.equal(rule(refused), 'bad-path');
  } finally {
    await wsApp.close();
    ws.close();
  }
});
