/**
 * The real peers (nginx, HAProxy, the Fastify peer) started the way the benchmark starts
 * them, with a low limit: each must limit one key and serve another; the reference
 * proxies (minimal Node, minimal Bun) must proxy; and every gateway started for a refusal
 * kind must answer the flood (from 127.0.0.1) with that kind's status while the calm
 * partner (from 127.0.0.2) is served. Skips a peer whose binary is missing, saying which.
 */
import assert from 'node:assert/strict';
import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { checkLimits } from '../lib/limit-check.ts';
import { setPinning } from '../lib/procs.ts';
import { LOW_LIMIT, REFUSAL_KINDS } from '../lib/target-types.ts';
import { disposeSluice } from '../peers/sluice.ts';
import { KIND_STATUS, REFUSAL_LIMIT } from '../refusal-kinds.ts';
import { CALM_ADDRESS, madeUpKeys } from '../scenarios.ts';
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

/** Status of one GET with `key`, sent from `localAddress`. */
function statusFrom(url: string, key: string, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/api/items/7`,
      { headers: { 'x-api-key': key }, localAddress, timeout: 5000, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer in 5 s')));
    req.on('error', reject);
    req.end();
  });
}

for (const name of ['node-minimal', 'bun-minimal']) {
  const target = TARGETS.find((x) => x.name === name)!;
  test(`${name} proxies to the upstream`, { timeout: 30_000 }, async (t) => {
    const why = await target.unavailable();
    if (why !== undefined) return t.skip(why);
    const up = await upstream(t);
    const running = await target.start(up, { limit: LOW_LIMIT, keys: 2 });
    t.after(() => running.stop());
    assert.ok(running.pid !== undefined);
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${running.url}/api/items/42`, { headers: { 'x-api-key': 'k' } });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { id: '42', name: 'item 42', price: 9.99 });
    }
  });
}

for (const name of ['nginx', 'haproxy', 'fastify', 'sluice']) {
  const target = TARGETS.find((x) => x.name === name)!;
  test(`${name} started for each refusal kind refuses the flood with its status and serves the calm partner`, {
    timeout: 120_000,
  }, async (t) => {
    const why = await target.unavailable();
    if (why !== undefined) return t.skip(why);
    assert.deepEqual(target.refusalKinds, REFUSAL_KINDS);
    t.after(disposeSluice);
    const up = await upstream(t);
    for (const kind of REFUSAL_KINDS) {
      const running = await target.start(up, {
        limit: REFUSAL_LIMIT,
        keys: 3,
        refusal: { kind },
      });
      try {
        const [floodKey, calmKey] = running.keys;
        // Before the refusal is applied the calm partner is served from its own address.
        assert.equal(await statusFrom(running.url, calmKey, CALM_ADDRESS), 200, kind);
        await running.applyRefusal?.();
        const key = kind === 'unknown' ? madeUpKeys(1)[0] : floodKey;
        // The rate flood must pass 100/s (+ nginx's burst of 10) at once: 150 in parallel.
        const sent = kind === 'rate' ? 150 : 1;
        const seen = await Promise.all(
          Array.from({ length: sent }, () => statusFrom(running.url, key, '127.0.0.1')),
        );
        assert.ok(seen.includes(KIND_STATUS[kind]), `${name}, ${kind}: ${seen.join(' ')}`);
        assert.deepEqual(
          seen.filter((s) => s !== 200 && s !== KIND_STATUS[kind]),
          [],
          `${name}, ${kind}`,
        );
        if (kind !== 'rate') assert.deepEqual(seen, [KIND_STATUS[kind]]);
        assert.equal(await statusFrom(running.url, calmKey, CALM_ADDRESS), 200, `${name}, ${kind}`);
      } finally {
        await running.stop();
      }
    }
  });
}

for (const name of ['nginx', 'haproxy', 'fastify']) {
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
