/**
 * sluice on Bun (the `bun` devDependency): `sluice serve` run by Bun proxies as on Node.
 * Bun's built-in `undici` cannot dispatch, so the upstream exchange runs on Bun's fetch
 * there (src/gateway/upstream-fetch-exchange.ts); these are its bounds and its header
 * handling, against a real upstream. Skipped, with the reason, when Bun does not run here.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import {
  BUN,
  type GatewayProcess,
  startGateway,
  tempDir,
  writePolicy,
} from '../helpers/gateway-process.ts';
import { call } from '../helpers/http.ts';

const version = spawnSync(BUN, ['--version'], { timeout: 10_000, encoding: 'utf8' });
const skip =
  version.status === 0 ? false : `bun does not run here: ${version.error ?? version.stderr}`;

let upstream: Awaited<ReturnType<typeof startDemoUpstream>>;
let gateway: GatewayProcess;

before(async () => {
  if (skip) return;
  upstream = await startDemoUpstream({});
  const dir = tempDir();
  // A short upstream timeout, for the 504 test.
  const policy = writePolicy(dir, `server:\n  upstream: ${upstream.url}\n  upstreamTimeout: 2s\n`);
  gateway = await startGateway(['--config', policy, '--data', dir], { runtime: 'bun' });
});

after(async () => {
  await gateway?.stop();
  await upstream?.close();
});

/** GET with node:http (undici refuses hop-by-hop request headers); status, headers, body. */
function rawGet(url: string, headers: Record<string, string>) {
  return new Promise<{ status: number; raw: string[]; body: string }>((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, raw: res.rawHeaders, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('on Bun, a request is proxied with its headers; hop-by-hop ones are not', {
  skip,
}, async () => {
  const answer = await rawGet(`${gateway.url}/api/whoami?x=1`, {
    'x-custom': 'kept',
    te: 'trailers',
    connection: 'x-drop-me, keep-alive',
    'x-drop-me': 'gone',
  });
  assert.equal(answer.status, 200, answer.body);
  const seen = JSON.parse(answer.body) as { headers: Record<string, string>; path?: string };
  assert.equal(seen.headers['x-custom'], 'kept');
  assert.equal(seen.headers['x-drop-me'], undefined);
  assert.equal(seen.headers.te, undefined);
  assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
  // Passed on as the upstream sent it: never decompressed by the exchange.
  assert.equal(seen.headers['accept-encoding'], undefined);
  const names = answer.raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
  assert.ok(names.includes('ratelimit'), `sluice's own headers are added: ${names}`);
});

test('on Bun, a 3 MB upload (streamed, past the 1 MiB buffer) and download pass intact', {
  skip,
}, async () => {
  const body = randomBytes(3 * 1024 * 1024);
  const up = await call(`${gateway.url}/_test/upload-digest`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/octet-stream' },
  });
  assert.equal(up.status, 200, up.body);
  assert.deepEqual(up.json(), {
    bytes: body.length,
    sha256: createHash('sha256').update(body).digest('hex'),
  });
  const res = await fetch(`${gateway.url}/_test/download?bytes=${3 * 1024 * 1024}`);
  assert.equal(res.status, 200);
  const bytes = Buffer.from(await res.arrayBuffer());
  assert.equal(bytes.length, 3 * 1024 * 1024);
  assert.equal(
    createHash('sha256').update(bytes).digest('hex'),
    res.headers.get('x-content-sha256'),
  );
});

test('on Bun, a slow upstream answers 504 problem+json after the upstream timeout', {
  skip,
}, async () => {
  const answer = await call(`${gateway.url}/_test/slow?ms=6000`);
  assert.equal(answer.status, 504, answer.body);
  assert.equal(answer.headers['content-type'], 'application/problem+json');
  assert.ok(answer.ms < 5000, `answered after ${answer.ms} ms`);
});

test('on Bun, a client that goes away cancels its upstream request', { skip }, async () => {
  const gone = new AbortController();
  const pending = call(`${gateway.url}/_test/slow?ms=6000`, { signal: gone.signal }).catch(
    () => undefined,
  );
  await new Promise((r) => setTimeout(r, 100));
  gone.abort();
  await pending;
  const left = performance.now();
  // The upstream counts the /_test/slow requests it is answering: back to this one alone
  // well before the gateway's own 2 s upstream timeout would have cancelled it.
  let running = '';
  while (performance.now() - left < 1500) {
    running = (await call(`${gateway.url}/_test/slow?ms=0`)).headers['x-slow-running'];
    if (running === '1') break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(running, '1', 'the upstream request was not cancelled when the client left');
});

test('on Bun, repeated response headers stay apart and Connection-named ones are dropped', {
  skip,
}, async () => {
  const raw: Server = createServer((_req, res) => {
    res.setHeader('set-cookie', ['a=1', 'b=2']);
    res.setHeader('connection', 'x-hop');
    res.setHeader('x-hop', 'dropped');
    res.end('ok');
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
  const dir = tempDir();
  const url = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
  const own = await startGateway(['--upstream', url, '--data', dir], { runtime: 'bun' });
  try {
    const answer = await rawGet(`${own.url}/x`, {});
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'ok');
    const cookies = answer.raw.filter((_, i) => answer.raw[i - 1]?.toLowerCase() === 'set-cookie');
    assert.deepEqual(cookies, ['a=1', 'b=2']);
    assert.ok(!answer.raw.some((h) => h.toLowerCase() === 'x-hop'), answer.raw.join(' '));
  } finally {
    await own.stop();
    await new Promise<void>((r) => raw.close(() => r()));
  }
});
