/**
 * Keys and identity through the real gateway: revoked keys are refused before the
 * upstream (also after a restart, also when revoked while running); spoofed
 * forwarded-for and identity headers from an untrusted peer change nothing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import {
  createKey,
  sluice,
  startGateway,
  tempDir,
  writePolicy,
} from '../helpers/gateway-process.ts';
import { bearer, call, eventually } from '../helpers/http.ts';

let upstream: Awaited<ReturnType<typeof startDemoUpstream>>;
let dataDir: string;
let policy: string;

before(async () => {
  upstream = await startDemoUpstream({});
  dataDir = tempDir();
  policy = writePolicy(dataDir, `server:\n  upstream: ${upstream.url}\n`);
});

after(async () => {
  await upstream?.close();
});

async function hits(path: string): Promise<number> {
  const snapshot = (await call(`${upstream.url}/_test/hits`)).json<{
    paths: Record<string, number>;
  }>();
  return snapshot.paths[path] ?? 0;
}

test('a revoked key is refused with 403 problem+json, never reaches the upstream, and stays refused after a restart', async () => {
  const { key, id } = await createKey(dataDir, 'acct-revoked');
  assert.equal(
    (await sluice(['keys', 'revoke', id, '--reason', 'test', '--data', dataDir])).code,
    0,
  );
  await call(`${upstream.url}/_test/hits/reset`, { method: 'POST' });

  for (let run = 1; run <= 2; run++) {
    const gateway = await startGateway(['--config', policy, '--data', dataDir]);
    try {
      const answer = await call(`${gateway.url}/api/whoami`, { headers: bearer(key) });
      assert.equal(answer.status, 403, `run ${run}`);
      assert.equal(answer.headers['content-type'], 'application/problem+json');
      const body = answer.json<{ rule: string; reference: string; detail: string }>();
      assert.equal(body.rule, 'key-revoked');
      assert.match(body.reference, /^RL-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
      assert.ok(body.detail.endsWith(`referencing ${body.reference}.`));
      assert.ok(!answer.body.includes(key), 'the secret never appears in an answer');
    } finally {
      assert.equal(await gateway.stop(), 0, 'a clean shutdown');
    }
  }
  assert.equal(await hits('/api/whoami'), 0, 'the upstream never saw the revoked key');
});

test('a key revoked while the gateway runs is refused within the poll interval; reinstated, it works again', async () => {
  const { key, id } = await createKey(dataDir, 'acct-live');
  const gateway = await startGateway(['--config', policy, '--data', dataDir]);
  try {
    assert.equal((await call(`${gateway.url}/api/whoami`, { headers: bearer(key) })).status, 200);
    assert.equal((await sluice(['keys', 'revoke', id, '--data', dataDir])).code, 0);
    await eventually(async () => {
      const a = await call(`${gateway.url}/api/whoami`, { headers: bearer(key) });
      return a.status === 403 ? a : undefined;
    });
    assert.equal((await sluice(['keys', 'reinstate', id, '--data', dataDir])).code, 0);
    await eventually(async () => {
      const a = await call(`${gateway.url}/api/whoami`, { headers: bearer(key) });
      return a.status === 200 ? a : undefined;
    });
  } finally {
    await gateway.stop();
  }
});

test('X-Forwarded-For and identity headers from an untrusted peer are ignored; sluice sets its own', async () => {
  const { key, id } = await createKey(dataDir, 'acct-real');
  const gateway = await startGateway(['--config', policy, '--data', dataDir]);
  try {
    const answer = await call(`${gateway.url}/api/whoami`, {
      headers: {
        ...bearer(key),
        'x-forwarded-for': '203.0.113.77',
        forwarded: 'for=203.0.113.78',
        'x-sluice-account': 'someone-else',
        'x-sluice-key-id': 'FORGED',
      },
    });
    assert.equal(answer.status, 200);
    const seen = answer.json<{
      account: string;
      keyId: string;
      forwardedFor: string;
      forwarded: unknown;
    }>();
    assert.equal(seen.account, 'acct-real');
    assert.equal(seen.keyId, id);
    assert.equal(seen.forwardedFor, '127.0.0.1', 'the spoofed address never reaches the upstream');
    // sluice's own Forwarded starts a new chain: the spoofed for= is gone.
    assert.equal(seen.forwarded, `for=127.0.0.1;host="${new URL(gateway.url).host}";proto=http`);

    // Without a key, forged identity headers are removed, not passed on.
    const anonymous = await call(`${gateway.url}/api/whoami`, {
      headers: { 'x-sluice-account': 'someone-else' },
    });
    assert.equal(anonymous.json<{ account: unknown }>().account ?? null, null);
  } finally {
    await gateway.stop();
  }
});

test("a trusted proxy's X-Forwarded-For names the client", async () => {
  const trusted = writePolicy(
    dataDir,
    `server:\n  upstream: ${upstream.url}\n  trustedProxies: [127.0.0.0/8]\n`,
    'trusted.yaml',
  );
  const gateway = await startGateway(['--config', trusted, '--data', dataDir]);
  try {
    const answer = await call(`${gateway.url}/api/whoami`, {
      headers: { 'x-forwarded-for': '203.0.113.9, 127.0.0.2' },
    });
    // The chain from the client on, extended with the proxy sluice heard it from.
    assert.equal(
      answer.json<{ forwardedFor: string }>().forwardedFor,
      '203.0.113.9, 127.0.0.2, 127.0.0.1',
    );
  } finally {
    await gateway.stop();
  }
});
