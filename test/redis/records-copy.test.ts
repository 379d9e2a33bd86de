/**
 * A standalone node moves to Redis: `sluice records copy --from DIR` carries what its
 * sluice.db holds into the records every node shares. Real parts: a standalone gateway
 * that refuses a request (an incident with a reference the partner was given), the CLI
 * for keys, revocations and IP blocks, a real redis-server, and a gateway on Redis
 * afterwards that must know the keys, still refuse the revoked one and the blocked IP,
 * and find the old reference.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type DemoUpstream, startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { RedisLink } from '../../src/store/redis-link.ts';
import { RedisRecordStore } from '../../src/store/redis-record-store.ts';
import { openSqliteRecordStore } from '../../src/store/sqlite-record-store.ts';
import {
  createKey,
  type GatewayProcess,
  sluice,
  startGateway,
  tempDir,
  writePolicy,
} from '../helpers/gateway-process.ts';
import { bearer, call } from '../helpers/http.ts';
import { type RedisProcess, startRedis } from '../helpers/redis-server.ts';

const PLANS =
  'plans:\n  metered:\n    base: 3/min\n    min: 3/min\n    max: 3/min\n    burst: 3\n    maxDelay: 0s\n';
const REFERENCE = /referencing (RL-[0-9A-Z]{4}-[0-9A-Z]{4})/;
const DAY = 24 * 3_600_000;

let redis: RedisProcess;
let upstream: DemoUpstream;
/** The standalone node's data directory and policy (store: memory). */
let standalone: string;
let standalonePolicy: string;
/** The shared policy (store: redis). */
let shared: string;
const gateways: GatewayProcess[] = [];

const acme = { key: '', id: '' };
const revoked = { key: '', id: '' };
let reference = '';
const exportedAt = Date.now() - 3 * DAY;

before(async () => {
  [redis, upstream] = await Promise.all([startRedis(), startDemoUpstream()]);
  standalone = tempDir();
  standalonePolicy = writePolicy(tempDir(), PLANS);
  shared = writePolicy(tempDir(), `store: {redis: "${redis.url}", timeout: 1s}\n${PLANS}`);

  Object.assign(acme, await createKey(standalone, 'acme', ['--plan', 'metered']));
  Object.assign(revoked, await createKey(standalone, 'beta'));
  const cli = (args: string[]) =>
    sluice([...args, '--data', standalone, '--config', standalonePolicy]);
  assert.equal((await cli(['keys', 'revoke', revoked.id, '--reason', 'leaked'])).code, 0);
  assert.equal((await cli(['ips', 'block', '203.0.113.9', '--reason', 'scraper'])).code, 0);
  // A bulk export acme took three days ago: the ledger must come along.
  const db = openSqliteRecordStore(standalone);
  db.takeBulkExport('acme', 'orders', exportedAt, 1, 30 * DAY);
  db.close();

  // The standalone node refuses acme's fourth request in a minute: a reference handed out.
  const node = await startGateway([
    '--config',
    standalonePolicy,
    '--data',
    standalone,
    '--upstream',
    upstream.url,
  ]);
  let answer = await whoami(node, acme.key);
  for (let i = 0; i < 3 && answer.status === 200; i++) answer = await whoami(node, acme.key);
  assert.equal(answer.status, 429);
  reference = REFERENCE.exec(answer.body)?.[1] ?? '';
  assert.notEqual(reference, '', answer.body);
  // Stopped as an operator would before copying: the incident is flushed on the way out.
  assert.equal(await node.stop(), 0);
});

after(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await upstream?.close();
  await redis?.stop();
});

const whoami = (node: GatewayProcess, key: string, headers: Record<string, string> = {}) =>
  call(`${node.url}/api/whoami`, {
    headers: { ...bearer(key), ...headers },
    signal: AbortSignal.timeout(10_000),
  });

/** `sluice records copy …` into the shared policy's records. */
const copy = (extra: string[] = []) =>
  sluice([
    'records',
    'copy',
    '--from',
    standalone,
    '--config',
    shared,
    '--data',
    tempDir(),
    ...extra,
  ]);

test('--dry-run says what would be copied and copies nothing', async () => {
  const result = await copy(['--dry-run']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stdout,
    /^Would copy from .*sluice\.db into Redis redis:\/\/127\.0\.0\.1:\d+ \(prefix sluice:\): 2 accounts, 2 keys, 1 IP block, 1 incident, \d+ audit entries, 1 bulk export\.\n$/,
  );
  const keys = await sluice(['keys', 'list', '--config', shared, '--data', tempDir(), '--json']);
  assert.deepEqual(JSON.parse(keys.stdout), []);
});

test('the copy carries keys, their status, IP blocks, incidents, the trail and the ledger', async () => {
  const result = await copy(['--json']);
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout);
  assert.equal(report.dryRun, false);
  assert.deepEqual(
    { ...report.copied, audit: report.copied.audit > 0 },
    { accounts: 2, keys: 2, ipBlocks: 1, incidents: 1, audit: true, bulkExports: 1 },
  );

  const node = await startGateway([
    '--config',
    shared,
    '--data',
    tempDir(),
    '--upstream',
    upstream.url,
  ]);
  gateways.push(node);
  const ok = await whoami(node, acme.key);
  assert.equal(ok.status, 200, ok.body);
  assert.equal(ok.json().keyId, acme.id);
  const refused = await whoami(node, revoked.key);
  assert.equal(refused.status, 403, refused.body);
  assert.equal(refused.json().rule, 'key-revoked');

  const found = await sluice([
    'incident',
    reference,
    '--config',
    shared,
    '--data',
    tempDir(),
    '--json',
  ]);
  assert.equal(found.code, 0, found.stderr);
  assert.equal(JSON.parse(found.stdout).reference, reference);

  const audit = await sluice(['audit', '--config', shared, '--data', tempDir(), '--json']);
  const actions = (
    JSON.parse(audit.stdout) as { action: string; subject: { keyId?: string } }[]
  ).map((e) => `${e.action} ${e.subject.keyId ?? ''}`.trim());
  assert.ok(actions.includes(`key-revoke ${revoked.id}`), actions.join(', '));

  const link = new RedisLink({ url: redis.url }, { timeoutMs: 2000 });
  assert.ok(await link.ready(5000));
  const records = new RedisRecordStore(link, 'sluice:', { closeLink: true });
  try {
    assert.deepEqual(await records.listBulkExports('acme', 0), [
      { dataset: 'orders', at: exportedAt },
    ]);
    assert.deepEqual(
      (await records.listIpBlocks()).map((b) => [b.ip, b.reason]),
      [['203.0.113.9', 'scraper']],
    );
  } finally {
    await records.close();
  }
});

test('copying again changes nothing and says so', async () => {
  const result = await copy();
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stdout,
    /^Nothing to copy from .*: .* already has all of it \(2 accounts, 2 keys, 1 IP block, 1 incident, \d+ audit entries, 1 bulk export\)\.\n$/,
  );
});

test('a conflict copies nothing and names the record', async () => {
  // The account acme is changed on Redis; a new key is made on the standalone node.
  const set = await sluice([
    'keys',
    'set-account',
    'acme',
    '--size',
    '9',
    '--config',
    shared,
    '--data',
    tempDir(),
  ]);
  assert.equal(set.code, 0, set.stderr);
  const late = await createKey(standalone, 'gamma');
  const result = await copy();
  assert.equal(result.code, 1);
  assert.match(result.stderr, /SLUICE_ERR_COPY_CONFLICT/);
  assert.match(
    result.stderr,
    /account acme: the target has it with plan metered, size 9; the source with plan metered, size 1/,
  );
  const keys = await sluice(['keys', 'list', '--config', shared, '--data', tempDir(), '--json']);
  const ids = (JSON.parse(keys.stdout) as { id: string }[]).map((k) => k.id);
  assert.ok(!ids.includes(late.id), 'nothing of the refused copy was written');
});

test('a --from that is not a data directory is a usage error', async () => {
  const none = await sluice(['records', 'copy', '--from', '/nonexistent/x', '--config', shared]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--from \/nonexistent\/x: no such directory/);
  const empty = await sluice(['records', 'copy', '--from', tempDir(), '--config', shared]);
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /no sluice\.db in it/);
  const missing = await sluice(['records', 'copy', '--config', shared]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /needs --from DIR/);
});
