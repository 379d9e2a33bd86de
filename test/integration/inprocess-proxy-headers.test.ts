/**
 * What the upstream proxy passes on, header by header, through the real gateway
 * (in-process, manual clock) in front of real upstreams on loopback: a node:http one that
 * records every request it gets (method, target, raw headers, body bytes), and a plain
 * TCP one whose answers are written byte for byte (no Connection header, `__proto__`,
 * repeated fields). Hop-by-hop headers (and those a Connection header names) go neither
 * way; a 1xx is not passed on; a body larger than the socket buffers arrives whole (the
 * slow-client pause is resumed); a client gone while its request waits for a pooled
 * connection never reaches the upstream. Then `streamToResponse`'s own contract, with a
 * real undici Pool: `onEnd` once, never after `abort()`, and at once when a request body
 * fails, even while it waits in the pool's queue.
 */
import assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import {
  createServer,
  get as httpGet,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { type AddressInfo, connect, createServer as createTcpServer } from 'node:net';
import { PassThrough } from 'node:stream';
import { after, afterEach, before, test } from 'node:test';
import { Pool } from 'undici';
import { type RawHeaders, streamToResponse } from '../../src/gateway/upstream-exchange.ts';
import { bearer, call } from '../helpers/http.ts';
import {
  type InProcessGateway,
  startInProcessGateway,
  until,
} from '../helpers/in-process-gateway.ts';
import { sendUntilClosed } from '../helpers/raw-http.ts';

const TOKEN = 'admin-token-for-proxy-header-tests-01';

/** One request as the recording upstream got it. */
interface Seen {
  method: string;
  url: string;
  /** Raw header pairs, names lower-cased, in the order sent. */
  headers: [string, string][];
  body: Buffer;
}

const seen: Seen[] = [];
/** Requests the upstream holds until the test lets them go. */
const held: ServerResponse[] = [];
/** The response of `/drip`, written by the test chunk by chunk. */
let drip: ServerResponse | undefined;
const BIG = Buffer.alloc(8 * 1024 * 1024);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 31 + (i >> 12)) & 0xff;

function answer(req: IncomingMessage, res: ServerResponse, body: Buffer) {
  const path = (req.url ?? '').split('?')[0];
  if (path === '/hold' || path === '/hold-body') {
    if (path === '/hold-body') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('started');
    }
    held.push(res);
    return;
  }
  if (path === '/big') {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(BIG);
    return;
  }
  if (path === '/drip') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    drip = res;
    res.write('chunk-0;');
    return;
  }
  if (path === '/hints') {
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
    res.writeHead(200, { 'content-type': 'text/plain', 'x-final': 'yes' });
    res.end('hinted');
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`got ${body.length} bytes`);
}

const recording: Server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const headers: [string, string][] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      headers.push([req.rawHeaders[i].toLowerCase(), req.rawHeaders[i + 1]]);
    }
    const body = Buffer.concat(chunks);
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers, body });
    answer(req, res, body);
  });
  // A held request whose gateway side was cut: nothing to answer.
  req.on('error', () => {});
});

/** Raw answers by target: the plain TCP upstream writes them as they are. */
const rawAnswers: Record<string, string> = {};
const rawSockets = new Set<import('node:net').Socket>();
const rawUpstream = createTcpServer((socket) => {
  rawSockets.add(socket);
  socket.on('close', () => rawSockets.delete(socket));
  socket.on('error', () => {});
  let pending = '';
  socket.on('data', (d: Buffer) => {
    pending += d.toString('latin1');
    for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
      // GET requests only: no body follows the head.
      const head = pending.slice(0, end);
      pending = pending.slice(end + 4);
      const target = head.split(' ')[1] ?? '';
      socket.write(
        rawAnswers[target] ?? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n',
        'latin1',
      );
    }
  });
});

let recordingUrl = '';
let rawUrl = '';
let gw: InProcessGateway | undefined;

before(async () => {
  await new Promise<void>((resolve) => recording.listen(0, '127.0.0.1', resolve));
  recordingUrl = `http://127.0.0.1:${(recording.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => rawUpstream.listen(0, '127.0.0.1', resolve));
  rawUrl = `http://127.0.0.1:${(rawUpstream.address() as AddressInfo).port}`;
});
afterEach(async () => {
  for (const res of held.splice(0)) res.destroy();
  drip?.destroy();
  drip = undefined;
  await gw?.close();
  gw = undefined;
  seen.length = 0;
});
after(async () => {
  recording.closeAllConnections();
  await new Promise((resolve) => recording.close(resolve));
  for (const socket of rawSockets) socket.destroy();
  await new Promise((resolve) => rawUpstream.close(resolve));
});

async function start(upstream: string, policy = ''): Promise<InProcessGateway> {
  gw = await startInProcessGateway({ upstream, policy, adminToken: TOKEN });
  return gw;
}

/** A parsed answer: its status lines (1xx included), final headers as lines, body. */
interface Exchange {
  statusLines: string[];
  /** Header lines of the final answer as received, without Date. */
  headers: string[];
  body: Buffer;
}

/**
 * Sends `bytes` (latin1) to the gateway on a fresh connection and reads until it closes
 * (the request must say `Connection: close` or be HTTP/1.0), at most 10 s.
 */
async function exchange(g: InProcessGateway, bytes: string | Buffer): Promise<Exchange> {
  let rest = await sendUntilClosed(g.url, bytes);
  const statusLines: string[] = [];
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) throw new Error(`no head: ${rest.toString('latin1')}`);
    const [statusLine, ...lines] = rest.subarray(0, end).toString('latin1').split('\r\n');
    statusLines.push(statusLine!);
    rest = rest.subarray(end + 4);
    if (/^HTTP\/1\.[01] 1\d\d /.test(statusLine!)) continue;
    const headers = lines.filter((l) => !/^date:/i.test(l));
    const chunked = headers.some((h) => /^transfer-encoding: chunked$/i.test(h));
    return { statusLines, headers, body: chunked ? dechunk(rest) : rest };
  }
}

/** A chunked body's bytes, its framing taken off. */
function dechunk(framed: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = framed.indexOf('\r\n', at);
    const size = Number.parseInt(framed.subarray(at, eol).toString('latin1'), 16);
    if (!(size > 0)) return Buffer.concat(parts);
    parts.push(framed.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/** The header names sluice sets itself towards the upstream, given the client's Host. */
function sluiceSet(host: string, account?: { account: string; keyId: string }) {
  const out: [string, string][] = [
    ['x-forwarded-for', '127.0.0.1'],
    ['x-forwarded-proto', 'http'],
    ['forwarded', `for=127.0.0.1;host=${host.includes(':') ? `"${host}"` : host};proto=http`],
    ['x-forwarded-host', host],
  ];
  if (account !== undefined) {
    out.push(['x-sluice-account', account.account], ['x-sluice-key-id', account.keyId]);
  }
  return out;
}

test('request: hop-by-hop headers and those Connection names are not forwarded; the rest are, as sent', async () => {
  const g = await start(recordingUrl);
  const { key, id } = g.addKey('acme');
  const answer = await exchange(
    g,
    [
      'GET /api/things?q=1 HTTP/1.1',
      'Host: api.example',
      `Authorization: Bearer ${key}`,
      // A list, spaced and in mixed case: each name is trimmed and lower-cased.
      'Connection: close,  X-Named , x-Other-Named',
      'X-Named: dropped',
      'X-Other-Named: dropped too',
      'Keep-Alive: timeout=9',
      'Proxy-Connection: keep-alive',
      'Proxy-Authenticate: Basic realm="x"',
      'Proxy-Authorization: Basic dXNlcjpwYXNz',
      'TE: trailers',
      'Trailer: X-Checksum',
      'Upgrade: h2c',
      'X-Kept: yes',
      'Accept: application/json',
      'X-Repeated: a',
      'X-Repeated: b',
      '',
      '',
    ].join('\r\n'),
  );
  assert.equal(answer.statusLines[0], 'HTTP/1.1 200 OK');
  assert.equal(answer.body.toString(), 'got 0 bytes');
  assert.equal(seen.length, 1);
  const [request] = seen;
  assert.equal(request.method, 'GET');
  assert.equal(request.url, '/api/things?q=1');
  assert.deepEqual(
    request.headers.filter(([name]) => name !== 'connection').sort(),
    [
      ['host', 'api.example'],
      ['x-kept', 'yes'],
      ['accept', 'application/json'],
      ['x-repeated', 'a, b'],
      ...sluiceSet('api.example', { account: 'acme', keyId: id }),
    ].sort(),
  );
  // undici's own, for its pooled connection: never the client's `close, X-Named…`.
  assert.deepEqual(
    request.headers.filter(([name]) => name === 'connection'),
    [['connection', 'keep-alive']],
  );
});

test('request without a Connection header (HTTP/1.0): its headers are forwarded', async () => {
  const g = await start(recordingUrl);
  const answer = await exchange(
    g,
    'GET /plain HTTP/1.0\r\nHost: api.example\r\nX-Kept: yes\r\nTE: trailers\r\n\r\n',
  );
  assert.equal(answer.statusLines[0], 'HTTP/1.1 200 OK');
  assert.equal(answer.body.toString(), 'got 0 bytes');
  assert.equal(seen.length, 1);
  assert.deepEqual(
    seen[0].headers.filter(([name]) => name !== 'connection').sort(),
    [['host', 'api.example'], ['x-kept', 'yes'], ...sluiceSet('api.example')].sort(),
  );
});

test('request bodies: Content-Length and chunked arrive whole, with a length and no transfer coding', async () => {
  const g = await start(recordingUrl);
  const body = Buffer.from('{"name":"caf\u00e9","bytes":"\u00ff\u0000"}', 'latin1');
  const sized = await exchange(
    g,
    Buffer.concat([
      Buffer.from(
        `POST /things HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
        'latin1',
      ),
      body,
    ]),
  );
  assert.equal(sized.statusLines[0], 'HTTP/1.1 200 OK');
  assert.equal(sized.body.toString(), `got ${body.length} bytes`);
  const chunked = await exchange(
    g,
    [
      'PUT /things/1 HTTP/1.1',
      'Host: api.example',
      'Connection: close',
      'Expect: 100-continue',
      'Transfer-Encoding: chunked',
      '',
      '5',
      'hello',
      '7',
      ', world',
      '0',
      '',
      '',
    ].join('\r\n'),
  );
  assert.equal(chunked.statusLines.at(-1), 'HTTP/1.1 200 OK');
  assert.equal(chunked.body.toString(), 'got 12 bytes');
  assert.equal(seen.length, 2);
  assert.equal(seen[0].method, 'POST');
  assert.equal(seen[0].url, '/things');
  assert.deepEqual(seen[0].body, body);
  assert.deepEqual(
    seen[0].headers.filter(([name]) => name === 'content-length' || name === 'content-type'),
    [
      ['content-type', 'application/json'],
      ['content-length', String(body.length)],
    ],
  );
  assert.equal(seen[1].method, 'PUT');
  assert.equal(seen[1].url, '/things/1');
  assert.equal(seen[1].body.toString(), 'hello, world');
  const names = seen[1].headers.map(([name]) => name);
  assert.ok(!names.includes('transfer-encoding'), names.join());
  assert.ok(!names.includes('expect'), names.join());
  assert.deepEqual(
    seen[1].headers.filter(([name]) => name === 'content-length'),
    [['content-length', '12']],
  );
});

test('response: hop-by-hop headers and those the first Connection names are dropped; the rest pass as sent', async () => {
  const g = await start(rawUrl);
  const body = 'ok';
  rawAnswers['/hop'] = [
    'HTTP/1.1 200 OK',
    // Before Connection: only Connection's own value names headers.
    'Keep-Alive: timeout=77',
    'Connection: keep-alive,  X-Hop , x-Other-Hop',
    'X-Hop: a',
    'X-Other-Hop: b',
    'Proxy-Connection: keep-alive',
    'Proxy-Authenticate: Basic realm="up"',
    'Proxy-Authorization: Basic dXA6dXA=',
    'TE: trailers',
    'Trailer: X-Checksum',
    'Upgrade: h2c',
    'Expect: 100-continue',
    'Host: upstream.internal',
    'X-Kept: yes',
    'Set-Cookie: a=1',
    'Set-Cookie: b=2',
    'Set-Cookie: c=3',
    `Content-Length: ${body.length}`,
    '',
    body,
  ].join('\r\n');
  const answer = await exchange(
    g,
    'GET /hop HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n\r\n',
  );
  assert.deepEqual(answer.statusLines, ['HTTP/1.1 200 OK']);
  assert.equal(answer.body.toString(), body);
  const passed = answer.headers.filter((h) => !/^(ratelimit|ratelimit-policy):/i.test(h));
  assert.deepEqual(passed, [
    'x-kept: yes',
    'set-cookie: a=1',
    'set-cookie: b=2',
    'set-cookie: c=3',
    'content-length: 2',
    // The gateway's own, for the client's connection.
    'Connection: close',
  ]);
});

test('response: a second Connection header names nothing; with none at all, nothing is dropped but hop-by-hop', async () => {
  const g = await start(rawUrl);
  rawAnswers['/twice'] = [
    'HTTP/1.1 200 OK',
    'Connection: X-A',
    'Connection: X-B',
    'X-A: 1',
    'X-B: 2',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  rawAnswers['/none'] = [
    'HTTP/1.1 200 OK',
    'X-Kept: yes',
    'Trailer: X-Checksum',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const twice = await exchange(
    g,
    'GET /twice HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n\r\n',
  );
  assert.deepEqual(twice.statusLines, ['HTTP/1.1 200 OK']);
  const own = (h: string) => !/^(ratelimit|ratelimit-policy|connection|content-length):/i.test(h);
  assert.deepEqual(twice.headers.filter(own), ['x-a: 1', 'x-b: 2']);
  const none = await exchange(
    g,
    'GET /none HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n\r\n',
  );
  assert.deepEqual(none.statusLines, ['HTTP/1.1 200 OK']);
  assert.deepEqual(none.headers.filter(own), ['x-kept: yes']);
});

test('response: a `__proto__` header is not passed on and breaks nothing', async () => {
  const g = await start(rawUrl);
  rawAnswers['/proto'] = [
    'HTTP/1.1 200 OK',
    '__proto__: polluted',
    'X-Kept: yes',
    'Content-Length: 2',
    '',
    'ok',
  ].join('\r\n');
  const answer = await exchange(
    g,
    'GET /proto HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n\r\n',
  );
  assert.deepEqual(answer.statusLines, ['HTTP/1.1 200 OK']);
  assert.equal(answer.body.toString(), 'ok');
  assert.ok(answer.headers.includes('x-kept: yes'), answer.headers.join('\n'));
  assert.ok(!answer.headers.some((h) => h.startsWith('__proto__')), answer.headers.join('\n'));
});

test('response: repeated Link and Location values each move to the public origin', async () => {
  const g = await start(rawUrl);
  rawAnswers['/links'] = [
    'HTTP/1.1 200 OK',
    `Link: <${rawUrl}/items?page=2>; rel="next"`,
    `Link: <${rawUrl}/items?page=9>; rel="last"`,
    'Link: <https://elsewhere.example/x>; rel="help"',
    `Content-Location: ${rawUrl}/items?page=1`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const answer = await exchange(
    g,
    'GET /links HTTP/1.1\r\nHost: api.example:8080\r\nConnection: close\r\n\r\n',
  );
  assert.deepEqual(answer.statusLines, ['HTTP/1.1 200 OK']);
  assert.deepEqual(
    answer.headers.filter((h) => /^(link|content-location):/.test(h)),
    [
      'link: <http://api.example:8080/items?page=2>; rel="next"',
      'link: <http://api.example:8080/items?page=9>; rel="last"',
      'link: <https://elsewhere.example/x>; rel="help"',
      'content-location: http://api.example:8080/items?page=1',
    ],
  );
});

test('response: without a public origin (a Host that is none), URL headers pass unchanged', async () => {
  const g = await start(rawUrl);
  rawAnswers['/moved'] = [
    'HTTP/1.1 302 Found',
    `Location: ${rawUrl}/items/2`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const answer = await exchange(
    g,
    'GET /moved HTTP/1.1\r\nHost: not a host!\r\nConnection: close\r\n\r\n',
  );
  assert.deepEqual(answer.statusLines, ['HTTP/1.1 302 Found']);
  assert.ok(answer.headers.includes(`location: ${rawUrl}/items/2`), answer.headers.join('\n'));
});

test('a 1xx from the upstream is not passed on: the client gets the final answer alone', async () => {
  const g = await start(recordingUrl);
  const answer = await exchange(
    g,
    'GET /hints HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n\r\n',
  );
  assert.deepEqual(answer.statusLines, ['HTTP/1.1 200 OK']);
  assert.ok(answer.headers.includes('x-final: yes'), answer.headers.join('\n'));
  assert.equal(answer.body.toString(), 'hinted');
});

test('a body larger than the socket buffers arrives whole: the paused upstream read is resumed', async () => {
  // Were it never resumed, the body would stop until upstreamTimeout cut it.
  const g = await start(recordingUrl, 'server:\n  upstreamTimeout: 3s\n');
  const answer = await exchange(
    g,
    'GET /big HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n\r\n',
  );
  assert.deepEqual(answer.statusLines, ['HTTP/1.1 200 OK']);
  assert.equal(answer.body.length, BIG.length);
  assert.ok(answer.body.equals(BIG), 'the same bytes');
});

test('a body sent in small pieces, each read at once, adds no listener per piece', async () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  try {
    const g = await start(recordingUrl);
    const received: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = httpGet(`${g.url}/drip`, { agent: false }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (text: string) => {
          received.push(text);
          // The next piece only once this one is through: each a write of its own.
          const sent = received.join('').split(';').length - 1;
          if (drip === undefined) return;
          if (sent < 30) drip.write(`chunk-${sent};`);
          else if (sent === 30) drip.end();
        });
        res.on('end', resolve);
        res.on('error', reject);
      });
      req.on('error', reject);
    });
    const text = received.join('');
    assert.equal(text, Array.from({ length: 30 }, (_, i) => `chunk-${i};`).join(''));
    // A warning is emitted on the next tick.
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      warnings.map((w) => w.name),
      [],
    );
  } finally {
    process.off('warning', onWarning);
  }
});

/** Every sample of /metrics whose name starts with `prefix`, summed. */
async function total(g: InProcessGateway, prefix: string): Promise<number> {
  const text = (await call(`${g.adminUrl}/metrics`, { headers: bearer(TOKEN) })).body;
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(prefix)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

test('a client gone while its request waits for a pooled connection: the upstream never gets it', async () => {
  const g = await start(
    recordingUrl,
    'server:\n  upstreamConnections: 2\n  unauthenticatedConcurrency: 1\n',
  );
  const keys = ['a', 'b', 'c', 'd'].map((account) => g.addKey(account).key);
  // Both connections held by the upstream.
  const first = g.call('/hold', { key: keys[0] });
  const second = g.call('/hold', { key: keys[1] });
  await until(() => held.length === 2, 'both requests are held upstream');
  // The third waits in the pool's queue…
  const { port } = new URL(g.url);
  const client = connect(Number(port), '127.0.0.1');
  client.on('error', () => {});
  client.write(
    `GET /queued HTTP/1.1\r\nHost: api.example\r\nAuthorization: Bearer ${keys[2]}\r\n\r\n`,
  );
  await until(
    async () => (await total(g, 'sluice_forwarded_total')) === 3,
    'the third request is forwarded',
  );
  // …and its client leaves: the exchange is over (counted) before it got a connection.
  client.destroy();
  await until(
    async () => (await total(g, 'sluice_upstream_responses_total')) === 1,
    'the gone client is counted',
  );
  for (const res of held.splice(0)) res.end('released');
  assert.equal((await first).body, 'released');
  assert.equal((await second).body, 'released');
  const after = await g.call('/after', { key: keys[3] });
  assert.equal(after.status, 200);
  assert.deepEqual(
    seen.map((s) => s.url),
    ['/hold', '/hold', '/after'],
  );
});

/** Resolves on `emitter`'s 'close' (whatever errors came before it). */
const closed = (emitter: EventEmitter) =>
  new Promise<void>((resolve) => emitter.once('close', () => resolve()));

/**
 * A real node:http server in front of `pool` whose every request is one
 * `streamToResponse` exchange with `opts`: what its callbacks saw, and the exchange.
 */
async function front(
  pool: Pool,
  opts: () => Parameters<typeof streamToResponse>[1],
  onHeadAlso: (exchange: { abort(): void }) => void = () => {},
) {
  const state = {
    heads: [] as number[],
    ends: [] as (Error | null)[],
    exchange: undefined as { abort(): void } | undefined,
    thrown: undefined as unknown,
  };
  const server = createServer((_req, res) => {
    try {
      state.exchange = streamToResponse(
        pool,
        opts(),
        res,
        (status: number, _raw: RawHeaders) => {
          state.heads.push(status);
          res.writeHead(status, { 'content-type': 'text/plain' });
          if (state.exchange !== undefined) onHeadAlso(state.exchange);
        },
        (error) => {
          state.ends.push(error);
          if (error !== null) res.destroy();
        },
      );
    } catch (error) {
      state.thrown = error;
      res.writeHead(500).end(String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return { state, url, close };
}

test('streamToResponse: the answer is passed on and onEnd is told once, with null', async () => {
  const pool = new Pool(recordingUrl, { connections: 1 });
  const f = await front(pool, () => ({ path: '/plain', method: 'GET', headers: {} }));
  try {
    const answer = await call(`${f.url}/`);
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'got 0 bytes');
    assert.deepEqual(f.state.heads, [200]);
    assert.deepEqual(f.state.ends, [null]);
  } finally {
    await f.close();
    await pool.close();
  }
});

test('streamToResponse: a string body is sent; no body at all is a GET without one', async () => {
  const pool = new Pool(recordingUrl, { connections: 1 });
  let body: string | undefined = 'hello';
  const f = await front(pool, () =>
    body === undefined
      ? { path: '/nobody', method: 'GET', headers: {} }
      : { path: '/text', method: 'POST', headers: {}, body },
  );
  try {
    const sent = await call(`${f.url}/`);
    assert.equal(f.state.thrown, undefined);
    assert.equal(sent.body, 'got 5 bytes');
    body = undefined;
    const none = await call(`${f.url}/`);
    assert.equal(f.state.thrown, undefined);
    assert.equal(none.body, 'got 0 bytes');
    assert.deepEqual(
      seen.map((s) => [s.method, s.url, s.body.toString()]),
      [
        ['POST', '/text', 'hello'],
        ['GET', '/nobody', ''],
      ],
    );
    assert.deepEqual(f.state.ends, [null, null]);
  } finally {
    await f.close();
    await pool.close();
  }
});

test('streamToResponse: after abort() no callback follows, even the error it causes', async () => {
  const pool = new Pool(recordingUrl, { connections: 1 });
  const f = await front(pool, () => ({ path: '/hold-body', method: 'GET', headers: {} }));
  const client = httpGet(`${f.url}/`, { agent: false });
  client.on('error', () => {});
  client.on('response', (res) => res.on('error', () => {}).resume());
  try {
    await until(() => f.state.heads.length === 1 && held.length === 1, 'the head is passed on');
    const upstreamSide = closed(held[0]);
    f.state.exchange?.abort();
    // undici's abort fails the request at once; the handler keeps it to itself.
    assert.deepEqual(f.state.ends, []);
    await upstreamSide;
    assert.deepEqual(f.state.ends, []);
  } finally {
    client.destroy();
    await f.close();
    await pool.close();
  }
});

test('streamToResponse: a request body that fails ends the exchange once, with its error', async () => {
  const pool = new Pool(recordingUrl, { connections: 1 });
  const body = new PassThrough();
  const reached = new Promise<IncomingMessage>((resolve) => recording.once('request', resolve));
  const f = await front(pool, () => ({ path: '/upload', method: 'POST', headers: {}, body }));
  const client = httpGet(`${f.url}/`, { agent: false });
  client.on('error', () => {});
  try {
    body.write('part of it');
    const upstreamReq = await reached;
    const cut = closed(upstreamReq);
    const failure = new Error('the body failed');
    body.destroy(failure);
    await closed(body);
    assert.deepEqual(f.state.ends, [failure]);
    await cut;
    assert.deepEqual(f.state.ends, [failure]);
  } finally {
    client.destroy();
    await f.close();
    await pool.close();
  }
});

test('streamToResponse: a body that fails while its request waits in the pool ends it at once', async () => {
  const pool = new Pool(recordingUrl, { connections: 1 });
  const holder = await front(pool, () => ({ path: '/hold', method: 'GET', headers: {} }));
  const body = new PassThrough();
  const waiting = await front(pool, () => ({ path: '/queued', method: 'POST', headers: {}, body }));
  const first = call(`${holder.url}/`);
  const second = httpGet(`${waiting.url}/`, { agent: false });
  second.on('error', () => {});
  try {
    await until(() => held.length === 1, 'the one connection is held');
    await until(() => waiting.state.exchange !== undefined, 'the second is queued');
    const failure = new Error('the body failed while queued');
    body.destroy(failure);
    await closed(body);
    // Not when the connection frees: now.
    assert.deepEqual(waiting.state.ends, [failure]);
    held.splice(0)[0]?.end('released');
    assert.equal((await first).body, 'released');
    assert.deepEqual(
      seen.map((s) => s.url),
      ['/hold'],
    );
    assert.deepEqual(waiting.state.ends, [failure]);
  } finally {
    second.destroy();
    await holder.close();
    await waiting.close();
    await pool.close();
  }
});
