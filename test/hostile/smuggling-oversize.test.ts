/**
 * The standing hostile-input suite: raw bytes over TCP (node:net, so nothing in between
 * tidies them up) to a real gateway in front of the real demo upstream. Each case must
 * be refused by sluice itself, and the upstream's hit counter (`/_test/hits`) must show
 * that nothing reached it: request smuggling (Content-Length with Transfer-Encoding,
 * two lengths, bad chunking), oversize headers and URLs, slow headers, two Host headers,
 * a transfer coding sluice cannot pass on, and `OPTIONS *`.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import { buildApp } from '../../src/app.ts';
import { compilePolicy } from '../../src/core/policy/compile.ts';
import { startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import { openSqliteRecordStore } from '../../src/store/sqlite-record-store.ts';
import { tempDir } from '../helpers/gateway-process.ts';
import { call } from '../helpers/http.ts';

const TOKEN = 'admin-token-for-hostile-tests-0123';
/** Short, so the slow-headers case takes seconds; the real default is 30 s. */
const HEADERS_TIMEOUT_MS = 1_500;

let upstream: Awaited<ReturnType<typeof startDemoUpstream>>;
let app: Awaited<ReturnType<typeof buildApp>>;
let gateway: URL;
let adminUrl: string;

before(async () => {
  upstream = await startDemoUpstream({});
  const policy = compilePolicy(
    { server: { listen: '127.0.0.1:0', upstream: upstream.url } },
    'hostile-test',
  );
  app = await buildApp({
    policy,
    recordStore: openSqliteRecordStore(tempDir()),
    logger: createLogger({ level: 'silent' }),
    admin: { host: '127.0.0.1', port: 0, token: TOKEN },
    headersTimeoutMs: HEADERS_TIMEOUT_MS,
  });
  const urls = await app.listen();
  gateway = new URL(urls.url);
  adminUrl = urls.adminUrl!;
});

after(async () => {
  await app?.close();
  await upstream?.close();
});

beforeEach(async () => {
  await call(`${upstream.url}/_test/hits/reset`, { method: 'POST' });
});

async function upstreamHits(): Promise<number> {
  // A request that did get through may still be on its way: give it a moment.
  await new Promise((r) => setTimeout(r, 150));
  return (await call(`${upstream.url}/_test/hits`)).json<{ total: number }>().total;
}

/** Sends raw bytes (in parts, `gapMs` apart) and reads until the gateway closes or 5 s pass. */
function raw(parts: string | string[], gapMs = 0): Promise<{ status: number; text: string }> {
  const list = Array.isArray(parts) ? parts : [parts];
  return new Promise((resolve, reject) => {
    const socket = connect(Number(gateway.port), gateway.hostname);
    let text = '';
    const timer = setTimeout(
      () => {
        socket.destroy();
        reject(new Error(`no answer in 5 s; got so far: ${text.slice(0, 200)}`));
      },
      5_000 + gapMs * list.length,
    );
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      text += d;
    });
    socket.on('error', () => {}); // a reset after the answer is fine: 'close' follows
    socket.on('close', () => {
      clearTimeout(timer);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, text });
    });
    socket.on('connect', async () => {
      for (const part of list) {
        if (socket.destroyed) return;
        socket.write(part, 'latin1');
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      }
    });
  });
}

const HEAD = 'Host: 127.0.0.1\r\nConnection: close\r\n';

const cases: [string, string][] = [
  [
    'Content-Length together with Transfer-Encoding',
    `POST /_test/echo HTTP/1.1\r\n${HEAD}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /_test/smuggled HTTP/1.1\r\n${HEAD}\r\n`,
  ],
  [
    'two Content-Length headers that differ',
    `POST /_test/echo HTTP/1.1\r\n${HEAD}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`,
  ],
  [
    'a chunk size that is not hexadecimal',
    `POST /_test/echo HTTP/1.1\r\n${HEAD}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`,
  ],
  ['a 100 KB header', `GET /api/whoami HTTP/1.1\r\n${HEAD}X-Big: ${'a'.repeat(100_000)}\r\n\r\n`],
  [
    '3,000 headers',
    `GET /api/whoami HTTP/1.1\r\n${HEAD}${Array.from({ length: 3_000 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`,
  ],
  ['a 100 KB URL', `GET /api/whoami?q=${'a'.repeat(100_000)} HTTP/1.1\r\n${HEAD}\r\n`],
  [
    'two Host headers (RFC 9112 §3.2: 400)',
    `GET /api/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`,
  ],
];

for (const [name, request] of cases) {
  test(`${name}: 400, and nothing reaches the upstream`, async () => {
    const answer = await raw(request);
    assert.equal(answer.status, 400, answer.text.slice(0, 300));
    assert.equal(await upstreamHits(), 0);
  });
}

test('Transfer-Encoding: gzip, chunked is refused (501), not forwarded as plain chunked', async () => {
  const answer = await raw(
    `POST /_test/upload-digest HTTP/1.1\r\n${HEAD}Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
  );
  assert.equal(answer.status, 501, answer.text.slice(0, 300));
  assert.match(answer.text, /application\/problem\+json/);
  assert.equal(await upstreamHits(), 0);
});

test('headers sent slowly are cut off, and nothing reaches the upstream', async () => {
  const started = performance.now();
  const parts = ['GET /api/whoami HTTP/1.1\r\n', 'Host: 127.0.0.1\r\n'];
  for (let i = 0; i < 40; i++) parts.push(`X-Slow-${i}: x\r\n`);
  parts.push('\r\n');
  // 42 parts 200 ms apart would take 8.4 s; the gateway must hang up well before.
  const answer = await raw(parts, 200);
  const ms = performance.now() - started;
  assert.ok(ms < HEADERS_TIMEOUT_MS + 3_000, `cut off after ${Math.round(ms)} ms`);
  assert.ok(answer.status === 408 || answer.status === 400 || answer.status === 0, answer.text);
  assert.equal(await upstreamHits(), 0);
});

test('OPTIONS * is answered by sluice (204), never 502, and not counted as an upstream failure', async () => {
  const answer = await raw(`OPTIONS * HTTP/1.1\r\n${HEAD}\r\n`);
  assert.equal(answer.status, 204, answer.text.slice(0, 300));
  assert.equal(await upstreamHits(), 0);
  const metrics = (
    await call(`${adminUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
  ).body;
  assert.doesNotMatch(metrics, /sluice_upstream_responses_total\{class="failed"\} [1-9]/);
});

test('another method on * is a bad request, not an upstream failure', async () => {
  const answer = await raw(`GET * HTTP/1.1\r\n${HEAD}\r\n`);
  assert.equal(answer.status, 400, answer.text.slice(0, 300));
  assert.equal(await upstreamHits(), 0);
});

test('a plain request still reaches the upstream (the counter works)', async () => {
  const answer = await raw(`GET /api/whoami HTTP/1.1\r\n${HEAD}\r\n`);
  assert.equal(answer.status, 200, answer.text.slice(0, 300));
  assert.equal(await upstreamHits(), 1);
});

test('an absolute-form target meets the same routes as its path (a non-public route stays refused)', async () => {
  const hidden = await raw(`GET http://evil.example/api/reports/r1 HTTP/1.1\r\n${HEAD}\r\n`);
  assert.equal(hidden.status, 403, hidden.text.slice(0, 300));
  assert.equal(await upstreamHits(), 0);
  const open = await raw(`GET http://evil.example/api/companies?limit=1 HTTP/1.1\r\n${HEAD}\r\n`);
  assert.equal(open.status, 200, open.text.slice(0, 300));
  const hits = (await call(`${upstream.url}/_test/hits`)).json<{ paths: Record<string, number> }>();
  assert.deepEqual(hits.paths, { '/api/companies': 1 });
});

test('a request pipelined behind a refused one on a kept-alive connection never reaches the upstream', async () => {
  // RFC 9112 §9.6: the refusal closes the connection and nothing after it is acted on.
  const smuggled = 'GET /_test/smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
  for (const [status, refused] of [
    [
      501,
      'POST /_test/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
    ],
    [400, 'GET /api/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n'],
  ] as const) {
    const answer = await raw(`${refused}${smuggled}`);
    assert.equal(answer.status, status, answer.text.slice(0, 300));
    assert.equal(answer.text.match(/HTTP\/1\.1 \d{3}/g)?.length, 1, answer.text);
    assert.equal(await upstreamHits(), 0);
  }
});
