/**
 * The proxy's request bodies, upstream failures and closing, through the real gateway
 * (in-process, manual clock) in front of a plain node:http upstream on loopback that
 * records what it receives: a body up to `server.bufferBody` reaches the upstream only
 * once whole, with its length; a larger one (by Content-Length, or chunked past the
 * bound) is streamed at once, starting with what came; a slow upstream is 504, a broken
 * one 502, each as problem+json and logged; an answer cut midway cuts the client's;
 * `upstreamConnections` bounds the sockets; closing the gateway closes them.
 */
import assert from 'node:assert/strict';
import {
  type ClientRequest,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type Server,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import { createLogger } from '../../src/gateway/logger.ts';
import { bearer, call } from '../helpers/http.ts';
import {
  type InProcessGateway,
  startInProcessGateway,
  until,
} from '../helpers/in-process-gateway.ts';

/** One request as the upstream got it; `body` settles when it has all arrived. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  port: number;
  body: Promise<Buffer>;
}

let upstream: Server;
let upstreamUrl: string;
const seen: Seen[] = [];
const sockets = new Set<Socket>();

before(async () => {
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    const body = new Promise<Buffer>((resolve) => {
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', () => resolve(Buffer.concat(chunks)));
    });
    const url = req.url ?? '';
    seen.push({
      method: req.method ?? '',
      url,
      headers: req.headers,
      port: req.socket.remotePort ?? 0,
      body,
    });
    // Never answers: the gateway's upstreamTimeout runs out.
    if (url.startsWith('/silent')) return;
    // Closes the connection instead of answering.
    if (url.startsWith('/reset')) return void req.socket.destroy();
    if (url.startsWith('/cut')) {
      // Promises 100 bytes, sends 7, then closes the connection.
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
      res.write('partial', () => req.socket.destroy());
      return;
    }
    const wait = url.startsWith('/wait') ? 50 : 0;
    void body.then((b) =>
      setTimeout(() => {
        res.writeHead(201, { 'content-type': 'text/plain', 'x-upstream': 'yes' });
        res.end(`got ${b.length}`);
      }, wait),
    );
  });
  // Idle connections stay open on this side: only the gateway closing them ends them.
  upstream.keepAliveTimeout = 60_000;
  upstream.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
after(async () => {
  upstream.closeAllConnections();
  await new Promise<void>((r) => upstream.close(() => r()));
});
beforeEach(() => {
  seen.length = 0;
});

const TOKEN = 'admin-token-for-proxy-bodies-0123456789';
const POLICY = 'server:\n  bufferBody: 1KiB\n  upstreamTimeout: 300ms\n';

async function gateway(
  t: { after(fn: () => unknown): void },
  options: { policy?: string; upstream?: string } = {},
) {
  const lines: Record<string, unknown>[] = [];
  const g = await startInProcessGateway({
    upstream: options.upstream ?? upstreamUrl,
    policy: options.policy ?? POLICY,
    adminToken: TOKEN,
    logger: createLogger({
      level: 'info',
      destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
    }),
  });
  t.after(() => g.close());
  return { g, failures: () => lines.filter((l) => l.event === 'upstream-failure') };
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The connection was cut before the whole answer came. */
  cut: boolean;
}

/** A POST to the gateway whose body the test writes itself, piece by piece. */
function post(g: InProcessGateway, path: string, headers: Record<string, string> = {}) {
  const req: ClientRequest = httpRequest(`${g.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', ...headers },
    agent: false,
  });
  const reply = new Promise<Reply>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      const done = (cut: boolean) =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          cut,
        });
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(false));
      res.on('error', () => done(true));
    });
  });
  req.flushHeaders();
  return { req, reply };
}

/** `n` bytes that differ from one position to the next, so a lost or moved piece shows. */
function bytes(n: number, from = 0): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (from + i) % 251;
  return b;
}

const posts = (path: string) => seen.filter((s) => s.method === 'POST' && s.url === path);

/** A request through the gateway answered whole: everything sent before it was read. */
async function barrier(g: InProcessGateway) {
  assert.equal((await g.call('/barrier')).status, 201);
}

/**
 * What the proxy itself sends besides the client's headers: the forwarding headers (the
 * client's Host is kept) and undici's own Connection.
 */
function forwarding(g: InProcessGateway) {
  const host = new URL(g.url).host;
  return {
    host,
    connection: 'keep-alive',
    'x-forwarded-for': '127.0.0.1',
    'x-forwarded-host': host,
    'x-forwarded-proto': 'http',
    forwarded: `for=127.0.0.1;host="${host}";proto=http`,
  };
}

test('a body of exactly bufferBody bytes reaches the upstream only once whole, with its length', async (t) => {
  const { g } = await gateway(t);
  const body = bytes(1024);
  const { req, reply } = post(g, '/small', { 'content-length': '1024' });
  req.write(body.subarray(0, 1000));
  await barrier(g);
  assert.deepEqual(posts('/small'), [], 'nothing upstream while the body is still coming');
  req.end(body.subarray(1000));
  const answer = await reply;
  assert.equal(answer.status, 201);
  assert.equal(answer.body, 'got 1024');
  const [got] = posts('/small');
  assert.equal(posts('/small').length, 1);
  assert.deepEqual((await got.body).equals(body), true);
  assert.deepEqual(got.headers, {
    ...forwarding(g),
    'content-type': 'application/octet-stream',
    'content-length': '1024',
  });
});

test('a chunked body up to bufferBody is sent whole, with a Content-Length', async (t) => {
  const { g } = await gateway(t);
  const body = bytes(1024, 7);
  const { req, reply } = post(g, '/chunked-small');
  req.write(body.subarray(0, 600));
  req.write(body.subarray(600));
  // All of it has come but its end: still within the bound, so still held.
  await barrier(g);
  assert.deepEqual(posts('/chunked-small'), []);
  req.end();
  assert.equal((await reply).body, 'got 1024');
  const [got] = posts('/chunked-small');
  assert.equal(posts('/chunked-small').length, 1);
  assert.equal((await got.body).equals(body), true);
  assert.equal(got.headers['content-length'], '1024');
  assert.equal(got.headers['transfer-encoding'], undefined);
});

test('a larger body by Content-Length is streamed at once, before it has all come', async (t) => {
  const { g } = await gateway(t);
  const body = bytes(4096, 3);
  const { req, reply } = post(g, '/large', { 'content-length': '4096' });
  req.write(body.subarray(0, 100));
  await until(() => posts('/large').length === 1, 'the request is upstream after 100 bytes');
  req.end(body.subarray(100));
  assert.equal((await reply).body, 'got 4096');
  const [got] = posts('/large');
  assert.equal((await got.body).equals(body), true);
  assert.equal(got.headers['content-length'], '4096');
  assert.equal(posts('/large').length, 1);
});

test('a chunked body past bufferBody is streamed from there, starting with what came', async (t) => {
  const { g } = await gateway(t);
  const body = bytes(1500, 11);
  const { req, reply } = post(g, '/chunked-large');
  req.write(body.subarray(0, 600));
  req.write(body.subarray(600, 1200));
  await until(() => posts('/chunked-large').length === 1, 'the request is upstream past 1 KiB');
  req.write(body.subarray(1200, 1300));
  req.end(body.subarray(1300));
  assert.equal((await reply).body, 'got 1500');
  const [got] = posts('/chunked-large');
  assert.equal((await got.body).equals(body), true);
  assert.equal(got.headers['transfer-encoding'], 'chunked');
  assert.equal(got.headers['content-length'], undefined);
  await barrier(g);
  assert.equal(posts('/chunked-large').length, 1, 'forwarded once');
});

test('a request without a body is forwarded with none, and exactly its own headers', async (t) => {
  const { g } = await gateway(t);
  const answer = await call(`${g.url}/plain?x=1`, { headers: { 'x-client': 'a' } });
  assert.equal(answer.status, 201);
  assert.equal(answer.body, 'got 0');
  assert.equal(answer.headers['x-upstream'], 'yes');
  assert.equal(seen.length, 1);
  assert.equal(seen[0].method, 'GET');
  assert.equal(seen[0].url, '/plain?x=1');
  assert.deepEqual(seen[0].headers, { ...forwarding(g), 'x-client': 'a' });
});

test('a client gone while its buffered body was coming: nothing upstream, the gateway still answers', async (t) => {
  const { g } = await gateway(t);
  const { req, reply } = post(g, '/gone', { 'content-length': '1024' });
  reply.catch(() => {});
  req.write(bytes(500));
  await barrier(g);
  req.destroy();
  const counted = async () =>
    (await call(`${g.adminUrl}/metrics`, { headers: bearer(TOKEN) })).body.includes(
      'sluice_upstream_responses_total{class="2xx"} 2',
    );
  // The barrier's answer, then the one of the client gone (its status: 200, unsent).
  await until(counted, 'the exchange of the client gone is over');
  await barrier(g);
  assert.deepEqual(posts('/gone'), []);
});

test('no answer within upstreamTimeout: 504 upstream-timeout as problem+json, logged', {
  timeout: 10_000,
}, async (t) => {
  const { g, failures } = await gateway(t);
  const answer = await g.call('/silent');
  assert.equal(answer.status, 504);
  assert.equal(answer.headers['content-type'], 'application/problem+json');
  assert.deepEqual(answer.json(), {
    type: 'tag:sluice,2026:problem:upstream-timeout',
    title: 'Gateway Timeout',
    status: 504,
    detail: 'The upstream API did not answer in time. Try again later.',
  });
  await until(() => failures().length === 1, 'the failure is logged');
  assert.equal(failures()[0].error, 'upstream-timeout');
});

test('an upstream that closes the connection: 502 upstream-unavailable as problem+json, logged', async (t) => {
  const { g, failures } = await gateway(t);
  const answer = await g.call('/reset');
  assert.equal(answer.status, 502);
  assert.equal(answer.headers['content-type'], 'application/problem+json');
  assert.deepEqual(answer.json(), {
    type: 'tag:sluice,2026:problem:upstream-unavailable',
    title: 'Bad Gateway',
    status: 502,
    detail: 'The upstream API cannot be reached right now. Try again later.',
  });
  await until(() => failures().length === 1, 'the failure is logged');
  assert.equal(failures()[0].error, 'upstream-unavailable');
});

test("an answer cut midway cuts the client's answer too, and is logged as a failure", {
  timeout: 10_000,
}, async (t) => {
  const { g, failures } = await gateway(t);
  const { req, reply } = post(g, '/cut', { 'content-length': '0' });
  req.end();
  const answer = await reply;
  assert.equal(answer.status, 200);
  assert.equal(answer.headers['content-length'], '100');
  assert.equal(answer.cut, true);
  assert.equal(answer.body, 'partial');
  await until(() => failures().length === 1, 'the failure is logged');
  assert.equal(failures()[0].error, 'upstream-unavailable');
  // The gateway is still up.
  await barrier(g);
});

test('an upstream URL with a base path and a trailing slash: the base is kept once', async (t) => {
  const { g } = await gateway(t, { upstream: `${upstreamUrl}/v1/` });
  assert.equal((await g.call('/things?a=b')).status, 201);
  assert.deepEqual(
    seen.map((s) => s.url),
    ['/v1/things?a=b'],
  );
});

test('upstreamConnections bounds the sockets to the upstream', async (t) => {
  const { g } = await gateway(t, {
    policy: `${POLICY}  upstreamConnections: 2\n  unauthenticatedConcurrency: 1\n`,
  });
  const { key } = g.addKey('acme');
  const answers = await Promise.all([1, 2, 3, 4].map((i) => g.call(`/wait/${i}`, { key })));
  assert.deepEqual(
    answers.map((a) => a.status),
    [201, 201, 201, 201],
  );
  const ports = new Set(seen.map((s) => s.port));
  assert.ok(ports.size <= 2, `${ports.size} upstream connections`);
});

test('closing the gateway closes its connections to the upstream', async (t) => {
  const { g } = await gateway(t);
  assert.equal((await g.call('/keep')).status, 201);
  assert.equal(sockets.size, 1, 'one kept-alive connection');
  await g.close();
  await until(() => sockets.size === 0, 'the upstream connection is closed', 2_000);
});
