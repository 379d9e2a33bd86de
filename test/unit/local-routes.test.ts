/**
 * What the gateway answers itself (gateway/local-routes.ts), on a real loopback server:
 * /healthz, /readyz ready, not ready, and degraded open or closed, and the published
 * policy at the clock's time; any other target is not the local routes'.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { manualClock } from '../../src/core/clock.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
import { localRoutes } from '../../src/gateway/local-routes.ts';
import { publishPolicy } from '../../src/words/publish-policy.ts';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);

async function start() {
  const state = {
    ready: true,
    degraded: undefined as 'open' | 'closed' | undefined,
  };
  const policy = parsePolicyText('', 'p.yaml', {});
  const clock = manualClock(T0);
  const local = localRoutes({
    policy: () => policy,
    clock,
    ready: () => state.ready,
    degraded: () => state.degraded,
  });
  const server = createServer((req, res) => {
    if (!local(req, res)) {
      res.writeHead(404, { 'x-not-local': '1' });
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const get = async (path: string) => {
    const res = await fetch(base + path);
    const text = await res.text();
    return {
      status: res.status,
      type: res.headers.get('content-type'),
      body: text === '' ? undefined : JSON.parse(text),
    };
  };
  const close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return { state, policy, clock, get, close };
}

test('/healthz: the process runs', async () => {
  const g = await start();
  try {
    g.state.ready = false;
    assert.deepEqual(await g.get('/healthz'), {
      status: 200,
      type: 'application/json',
      body: { status: 'ok' },
    });
  } finally {
    await g.close();
  }
});

test('/readyz: ready, not ready, degraded open (serving) and closed (refusing)', async () => {
  const g = await start();
  try {
    assert.deepEqual(await g.get('/readyz'), {
      status: 200,
      type: 'application/json',
      body: { status: 'ready' },
    });
    g.state.degraded = 'open';
    assert.deepEqual((await g.get('/readyz')).body, {
      status: 'degraded',
      limits: 'insurance limiter (this node only)',
    });
    assert.equal((await g.get('/readyz')).status, 200);
    g.state.degraded = 'closed';
    assert.deepEqual(await g.get('/readyz'), {
      status: 503,
      type: 'application/json',
      body: { status: 'degraded', limits: 'unavailable' },
    });
    // Not ready (closing) says so, whatever the limit store.
    g.state.ready = false;
    assert.deepEqual(await g.get('/readyz'), {
      status: 503,
      type: 'application/json',
      body: { status: 'not ready' },
    });
  } finally {
    await g.close();
  }
});

test('/readyz without a degraded probe (no shared store): ready', async () => {
  const server = createServer((req, res) => {
    localRoutes({
      policy: () => parsePolicyText('', 'p.yaml', {}),
      clock: manualClock(T0),
      ready: () => true,
    })(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/readyz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ready' });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test('/.well-known/sluice: the published policy as of the clock', async () => {
  const g = await start();
  try {
    g.clock.advance(90_000);
    const answer = await g.get('/.well-known/sluice');
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, JSON.parse(JSON.stringify(publishPolicy(g.policy, T0 + 90_000))));
    assert.equal(answer.body.generatedAt, '2026-01-05T12:01:30.000Z');
  } finally {
    await g.close();
  }
});

test('any other target is left to the gateway', async () => {
  const g = await start();
  try {
    for (const path of ['/', '/healthz/', '/readyz?x=1', '/.well-known/sluice/usage', '/api']) {
      assert.deepEqual(await g.get(path), { status: 404, type: null, body: undefined }, path);
    }
  } finally {
    await g.close();
  }
});
