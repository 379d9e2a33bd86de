/**
 * The real peers (nginx, the Fastify peer) started the way the benchmark starts them,
 * with a low limit: each must limit one key and serve another. Skips nginx when it is
 * not installed.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { checkLimits } from '../lib/limit-check.ts';
import { setPinning } from '../lib/procs.ts';
import { LOW_LIMIT } from '../lib/target-types.ts';
import { disposeSluice } from '../peers/sluice.ts';
import { madeUpKeys } from '../scenarios.ts';
import { TARGETS } from '../targets.ts';
import { startUpstream } from '../upstream.ts';

setPinning(false);

async function upstream(t: { after(f: () => unknown): void }) {
  const server: Server = await startUpstream(0);
  t.after(() => {
    server.closeAllConnections();
    return new Promise((r) => server.close(r));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

for (const name of ['nginx', 'fastify']) {
  const target = TARGETS.find((x) => x.name === name)!;
  test(`${name} really limits per key`, { timeout: 30_000 }, async (t) => {
    const why = await target.unavailable();
    if (why !== undefined) return t.skip(why);
    const up = await upstream(t);
    const running = await target.start(up, { limit: LOW_LIMIT, keys: 2 });
    t.after(() => running.stop());
    const v = await checkLimits(running.url, target.keyHeader, running.keys[0], running.keys[1]);
    assert.equal(v.ok, true, v.detail);
    const res = await fetch(`${running.url}/api/items/42`, { headers: { 'x-api-key': 'other' } });
    assert.deepEqual(await res.json(), { id: '42', name: 'item 42', price: 9.99 });
  });
}

test('sluice reports "not available" instead of failing while its CLI is not built', {
  timeout: 60_000,
}, async (t) => {
  const target = TARGETS.find((x) => x.name === 'sluice')!;
  t.after(disposeSluice);
  const up = await upstream(t);
  try {
    const running = await target.start(up, { limit: LOW_LIMIT, keys: 2 });
    // Built: then it must limit like the others.
    t.after(() => running.stop());
    const v = await checkLimits(running.url, target.keyHeader, running.keys[0], running.keys[1]);
    assert.equal(v.ok, true, v.detail);
  } catch (error) {
    assert.equal((error as Error).name, 'TargetUnavailable', String(error));
  }
});

test('sluice started for the unknown-key flood answers a made-up key 401 key-unknown, a real one 200', {
  timeout: 60_000,
}, async (t) => {
  const target = TARGETS.find((x) => x.name === 'sluice')!;
  assert.equal(target.refusesUnknownKeys, true);
  t.after(disposeSluice);
  const up = await upstream(t);
  const running = await target.start(up, { limit: LOW_LIMIT, keys: 2, refuseUnknownKeys: true });
  t.after(() => running.stop());
  for (const key of madeUpKeys(3)) {
    const res = await fetch(`${running.url}/api/items/1`, { headers: { 'x-api-key': key } });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { rule: string }).rule, 'key-unknown');
  }
  const res = await fetch(`${running.url}/api/items/1`, {
    headers: { 'x-api-key': running.keys[0] },
  });
  assert.equal(res.status, 200);
  await res.body?.cancel();
});
