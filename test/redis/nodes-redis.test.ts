/**
 * Three real gateway processes (`sluice serve`, each its own --data and port) with one
 * policy on one real redis-server, in front of the demo upstream: the keys, revocations,
 * limits and incidents of one gateway. A key made once with the CLI works on every
 * node; together they allow an account its limit (tolerance 0: one Redis decides); a
 * revocation made with the CLI is refused by the other nodes within a second (measured);
 * a reference answered by one node is found by `sluice incident` anywhere; and Redis
 * killed mid-load and restarted (with AOF, as docs/operations.md asks) loses no incident.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type DemoUpstream, startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { RedisLink } from '../../src/store/redis-link.ts';
import { RedisRecordStore } from '../../src/store/redis-record-store.ts';
import {
  type GatewayProcess,
  sluice,
  startGateway,
  tempDir,
  writePolicy,
} from '../helpers/gateway-process.ts';
import { bearer, call, closedPortUrl } from '../helpers/http.ts';
import { type RedisProcess, startRedis } from '../helpers/redis-server.ts';

/** A plan of 6 requests a minute, no slowing: the 7th is refused, on whichever node. */
const LIMIT = 6;
const REFERENCE = /referencing (RL-[0-9A-Z]{4}-[0-9A-Z]{4})/;

let redis: RedisProcess;
let aofDir: string;
let upstream: DemoUpstream;
let policy: string;
const nodes: GatewayProcess[] = [];

/**
 * Redis as operations.md says to run it for records: AOF (`everysec`: a killed Redis
 * process loses nothing written, only a machine's crash may lose the last second).
 */
const startDurableRedis = (port?: number) =>
  startRedis({ port, args: ['--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', aofDir] });

before(async () => {
  aofDir = mkdtempSync(join(tmpdir(), 'sluice-aof-'));
  [redis, upstream] = await Promise.all([startDurableRedis(), startDemoUpstream()]);
  policy = writePolicy(
    tempDir(),
    `store: {redis: "${redis.url}", timeout: 1s, onFailure: open}\n` +
      `plans:\n  metered:\n    base: ${LIMIT}/min\n    min: ${LIMIT}/min\n    max: ${LIMIT}/min\n    burst: ${LIMIT}\n    maxDelay: 0s\n`,
  );
  for (let i = 0; i < 3; i++) {
    nodes.push(
      await startGateway(['--config', policy, '--data', tempDir(), '--upstream', upstream.url]),
    );
  }
});
after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await upstream?.close();
  await redis?.stop();
  rmSync(aofDir, { recursive: true, force: true });
});

/** `sluice …` with the shared policy, from a directory of its own (none of the nodes'). */
async function cli(args: string[]) {
  const result = await sluice([...args, '--config', policy, '--data', tempDir(), '--json']);
  assert.equal(result.code, 0, `sluice ${args.join(' ')}: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

async function newKey(account: string, plan?: string): Promise<{ id: string; key: string }> {
  return cli(['keys', 'create', '--account', account, ...(plan ? ['--plan', plan] : [])]);
}

const whoami = (node: GatewayProcess, key: string) =>
  call(`${node.url}/api/whoami`, { headers: bearer(key), signal: AbortSignal.timeout(10_000) });

test('a key created once with the CLI works on all three nodes', async () => {
  const { id, key } = await newKey('acme');
  for (const node of nodes) {
    const answer = await whoami(node, key);
    assert.equal(answer.status, 200, node.url);
    // Known as acme's key (the demo's whoami is answered without a key, too).
    assert.equal(answer.json().keyId, id, `${node.url} knows the key`);
  }
});

test('three nodes allow an account no more than its limit together (round-robin)', async () => {
  const { key } = await newKey('metered-co', 'metered');
  const statuses: number[] = [];
  for (let i = 0; i < 4 * LIMIT; i++) statuses.push((await whoami(nodes[i % 3], key)).status);
  const allowed = statuses.filter((s) => s === 200).length;
  // Tolerance 0: every decision is one script on the one Redis.
  assert.equal(allowed, LIMIT, `statuses ${statuses.join(' ')}`);
  assert.ok(statuses.slice(LIMIT).every((s) => s === 429));
});

test('a key revoked with the CLI is refused by the other nodes within a second', async () => {
  const { id, key } = await newKey('revoked-co');
  for (const node of nodes) assert.equal((await whoami(node, key)).status, 200);
  await cli(['keys', 'revoke', id, '--reason', 'leaked']);
  // The write is committed before the CLI exits: measured from there.
  const revokedAt = performance.now();
  const took = await Promise.all(
    nodes.slice(1).map(async (node) => {
      for (;;) {
        const status = (await whoami(node, key)).status;
        const ms = performance.now() - revokedAt;
        if (status !== 200) return ms;
        assert.ok(ms < 1000, `${node.url} still answers 200 after ${Math.round(ms)} ms`);
        await new Promise((r) => setTimeout(r, 5));
      }
    }),
  );
  console.log(
    `cross-node revocation: refused after ${took.map((ms) => `${Math.round(ms)} ms`).join(', ')}`,
  );
  for (const ms of took) assert.ok(ms < 1000);
});

test('a reference answered by node B is found by `sluice incident` run with the policy', async () => {
  const { key } = await newKey('refused-co', 'metered');
  let answer = await whoami(nodes[1], key);
  for (let i = 0; i < LIMIT && answer.status === 200; i++) answer = await whoami(nodes[1], key);
  assert.equal(answer.status, 429);
  const reference = REFERENCE.exec(answer.body)?.[1];
  assert.ok(reference !== undefined, answer.body);
  // Saved at the node's next flush (250 ms): asked until then, at most 5 s.
  const until = Date.now() + 5000;
  for (;;) {
    const result = await sluice([
      'incident',
      reference,
      '--config',
      policy,
      '--data',
      tempDir(),
      '--json',
    ]);
    if (result.code === 0) {
      assert.equal(JSON.parse(result.stdout).reference, reference);
      return;
    }
    assert.ok(Date.now() < until, `incident ${reference} not found: ${result.stderr}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

test('Redis killed and restarted mid-load: no crash, no hung request, every reference handed out is found after', async () => {
  // Accounts first used while Redis is down: each node opens a new incident (a new
  // reference) for each of them then, which only that node's journal holds at first.
  const metered = await Promise.all(
    ['outage-1', 'outage-2', 'outage-3'].map((a) => newKey(a, 'metered')),
  );
  const good = await newKey('steady-co');
  const references = new Set<string>();
  const duringOutage = new Set<string>();
  const statuses = new Map<number, number>();
  let longest = 0;
  let down = false;
  let stop = false;
  // Three loops, one per node, each request bounded (a hung one fails the test).
  const load = nodes.map(async (node) => {
    for (let i = 0; i < 1000 && !stop; i++) {
      const key = down && i % 2 === 0 ? metered[(i / 2) % 3].key : good.key;
      const answer = await whoami(node, key);
      longest = Math.max(longest, answer.ms);
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      const reference = REFERENCE.exec(answer.body)?.[1];
      if (reference !== undefined) {
        references.add(reference);
        if (down) duringOutage.add(reference);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  });
  await new Promise((r) => setTimeout(r, 500));
  const port = redis.port;
  await redis.stop('SIGKILL');
  down = true;
  await new Promise((r) => setTimeout(r, 1500));
  down = false;
  const during = duringOutage.size;
  redis = await startDurableRedis(port);
  await new Promise((r) => setTimeout(r, 1500));
  stop = true;
  await Promise.all(load);
  for (const node of nodes) assert.equal(node.child.exitCode, null, `${node.url} is running`);
  assert.ok(during > 0, 'references were handed out while Redis was down');
  assert.ok(longest < 5000, `longest request ${Math.round(longest)} ms`);
  assert.deepEqual(
    [...statuses.keys()].filter((s) => s !== 200 && s !== 429),
    [],
    `statuses ${JSON.stringify([...statuses])}`,
  );
  // After Redis returned: a new key works everywhere, every reference is stored.
  const fresh = await newKey('after-co');
  for (const node of nodes) assert.equal((await whoami(node, fresh.key)).status, 200);
  const link = new RedisLink({ url: redis.url }, { timeoutMs: 2000 });
  assert.ok(await link.ready(5000));
  const store = new RedisRecordStore(link, 'sluice:', { closeLink: true });
  try {
    const until = Date.now() + 5000;
    let missing = [...references];
    while (missing.length > 0 && Date.now() < until) {
      const found = await Promise.all(missing.map((r) => store.getIncident(r)));
      missing = missing.filter((_, i) => found[i] === undefined);
      if (missing.length > 0) await new Promise((r) => setTimeout(r, 200));
    }
    console.log(
      `outage: ${references.size} references (${during} while Redis was down), longest request ${Math.round(longest)} ms`,
    );
    assert.deepEqual(missing, [], 'every reference handed out is in the store');
  } finally {
    store.close();
  }
});

test('a record command whose Redis does not answer says so in one line (exit 2), never from a local database', async () => {
  const url = (await closedPortUrl()).replace('http://', 'redis://:secret@');
  const dir = tempDir();
  const unreachable = writePolicy(dir, `store: {redis: "${url}"}\n`);
  const result = await sluice(['keys', 'list', '--config', unreachable, '--data', dir]);
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /^sluice: Redis redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ \(prefix sluice:\): the records are in Redis \(store\.redis\) and it did not answer within 5 s \[SLUICE_ERR_STORE\]\n$/,
  );
});
