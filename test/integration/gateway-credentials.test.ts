/**
 * Existing keys through a real gateway (in-process, on a SQLite database the CLI
 * imports into) in front of the real demo upstream, whose `/api/whoami` shows what
 * reached it: an imported key of any format is known and forwarded as sent (the
 * upstream may check it), a sluice key is stripped; the credential sources are the
 * policy's, two different credentials are a 400, the same one twice is fine; a key sent
 * as a query parameter is stripped from the target. The imported secret never reaches
 * the data directory or the log.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import type { CliIo } from '../../src/cli/io.ts';
import { main } from '../../src/cli/main.ts';
import { type DemoUpstream, startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import { openSqliteRecordStore } from '../../src/store/sqlite-record-store.ts';
import { tempDir } from '../helpers/gateway-process.ts';
import { call } from '../helpers/http.ts';
import {
  type InProcessGateway,
  startInProcessGateway,
  until,
} from '../helpers/in-process-gateway.ts';

const LEGACY = 'legacy-partner-key-7f3a9c21e4b8';
const OTHER_LEGACY = 'legacy-partner-key-0000aaaa1111';

interface WhoAmI {
  account: string | null;
  keyId: string | null;
  headers: Record<string, string>;
  url: string;
}

let upstream: DemoUpstream;
before(async () => {
  upstream = await startDemoUpstream({});
});
after(() => upstream?.close());

/** A gateway on a fresh SQLite data directory, with the log lines it writes. */
async function gateway(t: { after(fn: () => unknown): void }, policy = '', adminToken?: string) {
  const data = tempDir('sluice-credentials-');
  const log: string[] = [];
  const records = openSqliteRecordStore(data);
  const gw = await startInProcessGateway({
    upstream: upstream.url,
    policy,
    recordStore: records,
    adminToken,
    logger: createLogger({
      level: 'debug',
      destination: { write: (line: string) => void log.push(line) },
    }),
  });
  t.after(async () => {
    await gw.close();
    records.close();
  });
  return { gw, data, log };
}

async function importKeys(data: string, text: string, name = 'keys.csv') {
  writeFileSync(join(data, name), text);
  let stderr = '';
  const io: CliIo = {
    stdout: { write: () => true },
    stderr: { write: (s: string) => (stderr += s) },
    env: { USER: 'tester' },
    cwd: data,
  };
  const code = await main(['keys', 'import', name, '--data', data], io);
  assert.equal(code, 0, stderr);
}

const whoami = async (gw: InProcessGateway, headers: Record<string, string>, query = '') => {
  const answer = await gw.call(`/api/whoami${query}`, { headers });
  assert.equal(answer.status, 200, answer.body);
  return answer.json<WhoAmI>();
};

test('an imported key of any format works at once, is forwarded as sent, and is nowhere on disk or in the log', async (t) => {
  // A low per-IP block, so the key's requests are also refused and logged.
  const { gw, data, log } = await gateway(t, 'ip: { warn: 2/min, block: 3/min }\n');
  await importKeys(data, `account,size,plan,key\nacme,12,enterprise,${LEGACY}\n`);
  const seen = await whoami(gw, { 'x-api-key': LEGACY });
  assert.equal(seen.account, 'acme');
  assert.match(seen.keyId ?? '', /^[0-9A-Z]{10}$/);
  assert.equal(
    seen.headers['x-api-key'],
    LEGACY,
    'imported keys reach the upstream (stripCredential.imported: false)',
  );
  // The account's plan and size apply: enterprise's burst of 40 shows in the policy header.
  const limited = await gw.call('/api/companies?limit=1', { headers: { 'x-api-key': LEGACY } });
  assert.match(limited.headers['ratelimit-policy'], /"account";q=/);

  for (let i = 0; i < 3; i++)
    await gw.call('/api/companies?limit=1', { headers: { 'x-api-key': LEGACY } });
  await until(() => log.some((l) => l.includes('request refused')), 'the refusal is logged');

  // Not in the database, its WAL, or anything the gateway logged.
  await gw.close();
  const disk = Buffer.concat(
    readdirSync(data)
      .filter((f) => f.startsWith('sluice.db'))
      .map((f) => readFileSync(join(data, f))),
  );
  assert.ok(disk.length > 0);
  assert.ok(!disk.includes(LEGACY), 'the imported secret is not on disk');
  assert.ok(log.join('').includes(seen.keyId ?? '-'), 'the log names the key by its id');
  assert.ok(!log.join('').includes(LEGACY), 'the imported secret is not in the log');
});

test('a sluice key is stripped before forwarding; stripCredential.sluice: false forwards it', async (t) => {
  const { gw } = await gateway(t);
  const { key } = gw.addKey('acme');
  const stripped = await whoami(gw, { authorization: `Bearer ${key}`, 'x-api-key': key });
  assert.equal(stripped.account, 'acme');
  assert.equal(stripped.headers.authorization, undefined);
  assert.equal(stripped.headers['x-api-key'], undefined);

  const kept = await gateway(t, 'identity:\n  stripCredential: { sluice: false }\n');
  const made = kept.gw.addKey('acme');
  const seen = await whoami(kept.gw, { authorization: `Bearer ${made.key}` });
  assert.equal(seen.account, 'acme');
  assert.equal(seen.headers.authorization, `Bearer ${made.key}`);
});

test('imported keys are stripped too when the policy says so', async (t) => {
  const { gw, data } = await gateway(t, 'identity:\n  stripCredential: { imported: true }\n');
  await importKeys(data, `{"account":"acme","key":"${LEGACY}"}\n`, 'keys.jsonl');
  const seen = await whoami(gw, { authorization: `Bearer ${LEGACY}` });
  assert.equal(seen.account, 'acme');
  assert.equal(seen.headers.authorization, undefined);
});

test('credential sources are the policy’s: a query parameter, stripped from the target; Bearer no longer read', async (t) => {
  const { gw } = await gateway(
    t,
    'identity:\n  credentials: [ {header: X-Partner-Key}, {query: api_key} ]\n',
  );
  const { key } = gw.addKey('acme');
  const byQuery = await whoami(gw, {}, `?api_key=${key}&page=2`);
  assert.equal(byQuery.account, 'acme');
  assert.equal(byQuery.url, '/api/whoami?page=2', 'the key is not in the target the upstream sees');

  const byHeader = await whoami(gw, { 'x-partner-key': key });
  assert.equal(byHeader.account, 'acme');
  assert.equal(byHeader.headers['x-partner-key'], undefined);

  // Authorization is not a source here: the request is keyless, and the header the
  // upstream's own auth may need passes untouched.
  const bearer = await whoami(gw, { authorization: `Bearer ${key}` });
  assert.equal(bearer.account, null);
  assert.equal(bearer.headers.authorization, `Bearer ${key}`);
});

test('two different credentials are a 400 credential-conflict; the same one in two places is fine', async (t) => {
  const { gw, data } = await gateway(
    t,
    'identity:\n  credentials: [ {authorization: Bearer}, {header: X-API-Key}, {query: api_key} ]\n',
  );
  await importKeys(data, `account,key\nacme,${LEGACY}\nglobex,${OTHER_LEGACY}\n`);
  const same = await whoami(gw, { authorization: `Bearer ${LEGACY}` }, `?api_key=${LEGACY}`);
  assert.equal(same.account, 'acme');

  const hits = async () =>
    (await call(`${upstream.url}/_test/hits`)).json<{ total: number }>().total;
  const before = await hits();
  const conflict = await gw.call('/api/whoami', {
    headers: { authorization: `Bearer ${LEGACY}`, 'x-api-key': OTHER_LEGACY },
  });
  assert.equal(conflict.status, 400);
  assert.equal(conflict.headers['content-type'], 'application/problem+json');
  const problem = conflict.json();
  assert.equal(problem.type, 'tag:sluice,2026:problem:credential-conflict');
  assert.equal(problem.rule, 'credential-conflict');
  assert.match(
    String(problem.detail),
    /two different API keys \(in Authorization: Bearer and the x-api-key header\)/,
  );
  assert.ok(!conflict.body.includes(LEGACY) && !conflict.body.includes(OTHER_LEGACY));
  assert.equal(await hits(), before, 'never forwarded');
});

test('the admin API imports the same formats (CSV, JSON lines), idempotently; bad lines are a 400 naming them', async (t) => {
  const { gw } = await gateway(t, '', ADMIN_TOKEN);
  const url = gw.adminUrl;
  const post = (body: string, type: string) =>
    call(`${url}/admin/keys/import?actor=dana`, {
      method: 'POST',
      body,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': type },
    });
  const csv = `account,size,plan,key\nacme,3,standard,${LEGACY}\n`;
  const first = await post(csv, 'text/csv');
  assert.equal(first.status, 200, first.body);
  assert.equal(first.json<{ imported: unknown[] }>().imported.length, 1);
  assert.ok(!first.body.includes(LEGACY));
  // Known at once on this node: no wait for the key poll.
  assert.equal((await whoami(gw, { 'x-api-key': LEGACY })).account, 'acme');
  const again = await post(csv, 'text/csv');
  assert.deepEqual([again.status, again.json().changed, again.json().unchanged], [200, false, 1]);

  const jsonl = await post(`{"account":"beta","key":"${OTHER_LEGACY}"}\n`, 'application/x-ndjson');
  assert.equal(jsonl.status, 200, jsonl.body);
  assert.equal((await whoami(gw, { 'x-api-key': OTHER_LEGACY })).account, 'beta');

  const bad = await post('account,key\nacme,\n', 'text/csv');
  assert.equal(bad.status, 400);
  assert.equal(bad.json().type, 'tag:sluice,2026:problem:import-invalid');
  assert.deepEqual(bad.json().problems, [
    { line: 2, message: 'no key and no sha256: give the key itself or its SHA-256' },
  ]);

  const conflict = await post(`account,key\ngamma,${LEGACY}\n`, 'text/csv');
  assert.equal(conflict.status, 409);
  assert.equal(conflict.json().type, 'tag:sluice,2026:problem:import-conflict');
  assert.equal(
    gw.records.listAudit().filter((e) => e.action === 'key-import' && e.actor === 'admin:dana')
      .length,
    2,
  );
});

const ADMIN_TOKEN = 'admin-token-for-credential-tests-0123';

test('one credential header sent twice: two different keys are a 400, the same key twice (any spelling of the name) is that key', async (t) => {
  const { gw, data } = await gateway(t, 'identity:\n  credentials: [ {header: X-API-Key} ]\n');
  await importKeys(data, `account,key\nacme,${LEGACY}\nglobex,${OTHER_LEGACY}\n`);
  // Raw pairs: each is its own header line on the wire, names spelled as a client might.
  const send = async (headers: string[]) => {
    const res = await request(`${gw.url}/api/whoami`, { headers });
    return { status: res.statusCode, body: await res.body.text() };
  };
  const twice = await send(['X-Api-Key', LEGACY, 'x-api-key', OTHER_LEGACY]);
  assert.equal(twice.status, 400, twice.body);
  assert.equal(JSON.parse(twice.body).rule, 'credential-conflict');
  const same = await send(['X-API-KEY', LEGACY, 'x-api-key', LEGACY]);
  assert.equal(same.status, 200, same.body);
  assert.equal(JSON.parse(same.body).account, 'acme');
});
