/**
 * The WebSocket tunnel (src/gateway/websocket-tunnel.ts) on its own: a real node:http
 * "front" server whose `upgrade` handler hands the request to `tunnelUpgrade` as the
 * forward stage does, real client sockets, and real upstreams on loopback: a node:http
 * one that speaks upgrades, and raw node:net ones that misbehave (never accept, reset
 * after the 101, go silent half-open, close while their input is stuck).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import {
  type AddressInfo,
  connect,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import type { Duplex } from 'node:stream';
import { type TestContext, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { type TunnelOptions, tunnelUpgrade } from '../../src/gateway/websocket-tunnel.ts';

/** Every wait in this file is bounded: a hang fails the test with what it waited for. */
const WAIT_MS = 4_000;

function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves when `socket` closes, however (an 'error' before it is no failure here). */
const closing = (socket: Socket) => new Promise<void>((r) => socket.once('close', () => r()));

/** Polls `check` every 10 ms until it holds, for at most WAIT_MS. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + WAIT_MS;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${WAIT_MS} ms`);
    await sleep(10);
  }
}

const SWITCHING =
  'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n';

async function listening(t: TestContext, server: Server | NetServer): Promise<number> {
  // Upgraded sockets are no longer the HTTP server's: every connection is closed here.
  const connections = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const socket of connections) socket.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return (server.address() as AddressInfo).port;
}

/** A raw upstream: `onSocket` gets each connection once its handshake has arrived whole. */
async function rawUpstream(
  t: TestContext,
  onSocket: (socket: Socket, handshake: string) => void,
  allowHalfOpen = false,
): Promise<{ url: string; sockets: Socket[]; gone: Promise<void>[] }> {
  const sockets: Socket[] = [];
  /** Per connection: resolves when it has closed. */
  const gone: Promise<void>[] = [];
  const server = createNetServer({ allowHalfOpen }, (socket) => {
    sockets.push(socket);
    gone.push(closing(socket));
    socket.on('error', () => {});
    let got = '';
    const read = (d: Buffer) => {
      got += d.toString('latin1');
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', read);
      // Still reading (what comes next is dropped unless `onSocket` listens), so that
      // the tunnel's end of the connection is seen.
      socket.resume();
      onSocket(socket, got.slice(0, end));
    };
    socket.on('data', read);
  });
  t.after(() => {
    for (const s of sockets) s.destroy();
  });
  const port = await listening(t, server);
  return { url: `http://127.0.0.1:${port}`, sockets, gone };
}

/** What the echoing node:http upstream saw of each handshake. */
interface Seen {
  url: string;
  rawHeaders: string[];
}

/** A node:http upstream that answers every upgrade with a 101 and echoes what comes. */
async function echoUpstream(t: TestContext, path = ''): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((_req, res) => res.end('not an upgrade'));
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    seen.push({ url: String(req.url), rawHeaders: req.rawHeaders });
    socket.on('error', () => {});
    socket.write(SWITCHING);
    if (head.length > 0) socket.write(head);
    socket.on('data', (d) => socket.write(d));
    socket.on('end', () => socket.end());
  });
  const port = await listening(t, server);
  return { url: `http://127.0.0.1:${port}${path}`, seen };
}

interface Front {
  port: number;
  /** The gateway's side of each upgraded client socket. */
  clients: Duplex[];
  /** Resolves with the ms from the tunnel's start to its `closed` call (the slot given back). */
  closed: Promise<number>;
  /** How many times `closed` was called. */
  closedCalls(): number;
}

/** The gateway's side: each upgrade is handed to `tunnelUpgrade` with these options. */
async function front(
  t: TestContext,
  upstreamUrl: string,
  options: Partial<TunnelOptions> = {},
): Promise<Front> {
  const clients: Duplex[] = [];
  let calls = 0;
  let started = 0;
  let closedAt!: (ms: number) => void;
  const closed = new Promise<number>((r) => {
    closedAt = r;
  });
  const server = createServer();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    clients.push(socket);
    started = performance.now();
    tunnelUpgrade(req, socket, head, {
      upstreamUrl,
      target: String(req.url),
      set: {},
      strip: new Set(),
      connectTimeoutMs: 2_000,
      closed: () => {
        calls++;
        closedAt(performance.now() - started);
      },
      ...options,
    });
  });
  t.after(() => {
    for (const c of clients) c.destroy();
  });
  const port = await listening(t, server);
  return { port, clients, closed, closedCalls: () => calls };
}

interface Client {
  socket: Socket;
  /** Everything received so far (latin1). */
  received(): string;
  /** Resolves once `text` has arrived. */
  waitFor(text: string, what: string): Promise<void>;
  /** Resolves when the gateway ended its side. */
  ended: Promise<void>;
  closed: Promise<void>;
}

/** A raw client: sends an upgrade handshake (and `early` bytes right behind it). */
function client(
  t: TestContext,
  port: number,
  headerLines: string[] = [],
  options: { early?: string; allowHalfOpen?: boolean; target?: string } = {},
): Client {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: options.allowHalfOpen });
  t.after(() => socket.destroy());
  let data = '';
  const waiters: (() => void)[] = [];
  socket.on('data', (d) => {
    data += d.toString('latin1');
    for (const w of waiters) w();
  });
  socket.on('error', () => {});
  // Not `once()`, which rejects on an 'error': a reset after the end is no failure here.
  const ended = new Promise<void>((r) => socket.once('end', r));
  const closed = new Promise<void>((r) => socket.once('close', r));
  socket.write(
    `GET ${options.target ?? '/socket'} HTTP/1.1\r\nhost: api.example.com\r\nconnection: Upgrade\r\nupgrade: websocket\r\n${headerLines.map((l) => `${l}\r\n`).join('')}\r\n${options.early ?? ''}`,
  );
  return {
    socket,
    received: () => data,
    waitFor(text, what) {
      return within(
        new Promise<void>((resolve) => {
          const check = () => data.includes(text) && resolve();
          waiters.push(check);
          check();
        }),
        what,
      );
    },
    ended,
    closed,
  };
}

/** The values of one header, by name, in raw headers. */
function valuesOf(rawHeaders: string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i].toLowerCase() === name) values.push(rawHeaders[i + 1]);
  }
  return values;
}

test('the handshake goes to the upstream’s base path with its own Host; the client’s Host and forwarding headers never pass', async (t) => {
  const upstream = await echoUpstream(t, '/base/');
  const gw = await front(t, upstream.url, {
    target: '/socket?room=1',
    set: { 'x-sluice-account': 'acme' },
    strip: new Set(['authorization']),
  });
  const c = client(t, gw.port, [
    'x-forwarded-for: 203.0.113.66',
    'forwarded: for=203.0.113.66',
    'x-sluice-account: forged',
    'authorization: Bearer sk_secret',
    'x-custom: kept',
  ]);
  await c.waitFor('\r\n\r\n', 'the 101');
  assert.equal(upstream.seen.length, 1);
  const [{ url, rawHeaders }] = upstream.seen;
  assert.equal(url, '/base/socket?room=1');
  const { host } = new URL(upstream.url);
  assert.deepEqual(valuesOf(rawHeaders, 'host'), [host], 'the upstream’s Host, once');
  assert.deepEqual(valuesOf(rawHeaders, 'x-forwarded-for'), [], 'a forged X-Forwarded-For');
  assert.deepEqual(valuesOf(rawHeaders, 'forwarded'), [], 'a forged Forwarded');
  assert.deepEqual(valuesOf(rawHeaders, 'x-sluice-account'), ['acme']);
  assert.deepEqual(valuesOf(rawHeaders, 'authorization'), []);
  assert.deepEqual(valuesOf(rawHeaders, 'x-custom'), ['kept']);
});

test('the Host the forward stage set (server.preserveHost) is sent once, in place of the upstream’s', async (t) => {
  const upstream = await echoUpstream(t);
  const gw = await front(t, upstream.url, {
    set: { host: 'api.example.com', 'x-forwarded-for': '127.0.0.1' },
  });
  const c = client(t, gw.port, ['x-forwarded-for: 203.0.113.66']);
  await c.waitFor('\r\n\r\n', 'the 101');
  const [{ url, rawHeaders }] = upstream.seen;
  assert.equal(url, '/socket');
  assert.deepEqual(valuesOf(rawHeaders, 'host'), ['api.example.com']);
  assert.deepEqual(valuesOf(rawHeaders, 'x-forwarded-for'), ['127.0.0.1']);
});

test('an upstream on a base path without a trailing slash', async (t) => {
  const upstream = await echoUpstream(t, '/base');
  const gw = await front(t, upstream.url);
  const c = client(t, gw.port);
  await c.waitFor('\r\n\r\n', 'the 101');
  assert.deepEqual(
    upstream.seen.map((s) => s.url),
    ['/base/socket'],
  );
});

test('an open tunnel idle for longer than the connect timeout stays open', async (t) => {
  const upstream = await echoUpstream(t);
  const gw = await front(t, upstream.url, { connectTimeoutMs: 50 });
  const c = client(t, gw.port);
  await c.waitFor(SWITCHING, 'the 101');
  await sleep(300);
  c.socket.write('ping');
  await c.waitFor('ping', 'the echo after an idle while');
  assert.equal(gw.closedCalls(), 0);
});

/**
 * An upstream whose listen queue is full: connections to it hang (the kernel drops
 * their SYN), as to a host that never answers. The listener lives in a worker whose
 * event loop is held, so nothing accepts.
 */
async function unansweringUpstream(t: TestContext): Promise<string> {
  const hold = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     const server = require('node:net').createServer();
     server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
       parentPort.postMessage(server.address().port);
       Atomics.wait(workerData, 0, 0, 30000);
       server.close();
     });`,
    { eval: true, workerData: hold },
  );
  const [port] = (await once(worker, 'message')) as [number];
  const fillers: Socket[] = [];
  t.after(async () => {
    for (const s of fillers) s.destroy();
    Atomics.store(hold, 0, 1);
    Atomics.notify(hold, 0);
    await worker.terminate();
  });
  // A backlog of 1 holds two finished handshakes; the third connect hangs.
  for (let i = 0; i < 2; i++) {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    fillers.push(s);
    await within(once(s, 'connect'), 'filling the listen queue');
  }
  return `http://127.0.0.1:${port}`;
}

/** The whole answer on the wire: problem+json, as every other gateway error. */
function problemAnswer(statusLine: string, body: string): string {
  return `HTTP/1.1 ${statusLine}\r\ncontent-type: application/problem+json\r\nconnection: close\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
}

const GATEWAY_TIMEOUT = problemAnswer(
  '504 Gateway Timeout',
  '{"type":"tag:sluice,2026:problem:upstream-timeout","title":"Gateway Timeout","status":504,"detail":"The upstream API did not answer in time. Try again later."}',
);

test('an upstream that never accepts: after the upstream timeout the upgrade is answered 504 and closed', async (t) => {
  const gw = await front(t, await unansweringUpstream(t), { connectTimeoutMs: 150 });
  const c = client(t, gw.port);
  await within(c.ended, 'the 504');
  assert.equal(c.received(), GATEWAY_TIMEOUT);
  const ms = await within(gw.closed, 'the tunnel closed');
  assert.ok(ms >= 140, `closed after ${ms} ms, not before the timeout`);
  assert.equal(gw.closedCalls(), 1);
});

test('an upstream that accepts and never answers the handshake: 504 after the upstream timeout, its connection closed', async (t) => {
  const upstream = await rawUpstream(t, () => {});
  const gw = await front(t, upstream.url, { connectTimeoutMs: 150 });
  const c = client(t, gw.port);
  await within(c.ended, 'the 504');
  assert.equal(c.received(), GATEWAY_TIMEOUT);
  const ms = await within(gw.closed, 'the tunnel closed');
  assert.ok(ms >= 140, `closed after ${ms} ms, not before the timeout`);
  await within(upstream.gone[0], 'the upstream’s connection closed');
});

test('an upstream that closes at once without a word: the upgrade is answered 502', async (t) => {
  const upstream = await rawUpstream(t, (socket) => socket.end());
  const gw = await front(t, upstream.url);
  const c = client(t, gw.port);
  await within(c.closed, 'the client’s connection closed');
  assert.equal(
    c.received(),
    problemAnswer(
      '502 Bad Gateway',
      '{"type":"tag:sluice,2026:problem:upstream-unavailable","title":"Bad Gateway","status":502,"detail":"The upstream API cannot be reached right now. Try again later."}',
    ),
  );
  assert.equal(gw.closedCalls(), 1);
});

test('an upstream that refuses the upgrade with its own answer: the client gets that answer as sent', async (t) => {
  const refusal =
    'HTTP/1.1 426 Upgrade Required\r\ncontent-length: 4\r\nconnection: close\r\n\r\nnope';
  const upstream = await rawUpstream(t, (socket) => socket.end(refusal));
  const gw = await front(t, upstream.url);
  const c = client(t, gw.port);
  await within(c.closed, 'the client’s connection closed');
  assert.equal(c.received(), refusal);
});

test('an upstream that resets after its 101: the client’s connection is closed, nothing added to what the upstream sent', async (t) => {
  const upstream = await rawUpstream(t, (socket) => {
    socket.write(`${SWITCHING}hello`);
    socket.once('data', () => socket.resetAndDestroy());
  });
  const gw = await front(t, upstream.url);
  const c = client(t, gw.port);
  await c.waitFor('hello', 'the upstream’s bytes');
  c.socket.write('bye');
  await within(c.closed, 'the client’s connection closed');
  assert.equal(c.received(), `${SWITCHING}hello`);
  await within(gw.closed, 'the tunnel closed');
});

test('a client that resets: the upstream’s connection is closed, the gateway carries on', async (t) => {
  const upstream = await rawUpstream(t, (socket) => socket.write(SWITCHING));
  const gw = await front(t, upstream.url);
  const c = client(t, gw.port);
  await c.waitFor(SWITCHING, 'the 101');
  // The gateway's side reads the reset as an error (ECONNRESET), which must not be thrown.
  c.socket.resetAndDestroy();
  await within(upstream.gone[0], 'the upstream’s connection closed');
  await within(gw.closed, 'the tunnel closed');
});

test('the gateway closing the client’s socket (a shutdown) closes the upstream’s connection at once', async (t) => {
  const upstream = await rawUpstream(t, (socket) => socket.write(SWITCHING));
  const gw = await front(t, upstream.url);
  const c = client(t, gw.port);
  await c.waitFor(SWITCHING, 'the 101');
  gw.clients[0].destroy();
  await within(upstream.gone[0], 'the upstream’s connection closed', 800);
  assert.equal(gw.closedCalls(), 1);
});

test('an upstream that ends the tunnel: the client’s socket is closed at once, not after the grace', async (t) => {
  const upstream = await rawUpstream(t, (socket) => socket.end(`${SWITCHING}bye`));
  const gw = await front(t, upstream.url);
  // A client that never ends its own half.
  const c = client(t, gw.port, [], { allowHalfOpen: true });
  await within(c.ended, 'the upstream’s end passed on');
  assert.equal(c.received(), `${SWITCHING}bye`);
  const ms = await within(gw.closed, 'the tunnel closed');
  assert.ok(ms < 500, `closed after ${ms} ms`);
});

test('a client that only ends its half: the tunnel still flushes for a short grace, then both sockets go', async (t) => {
  // An upstream that keeps its half open and answers the client's end late.
  const upstream = await rawUpstream(
    t,
    (socket) => {
      socket.write(SWITCHING);
      socket.on('end', () => setTimeout(() => socket.write('late'), 100));
    },
    true,
  );
  const gw = await front(t, upstream.url);
  const c = client(t, gw.port, [], { allowHalfOpen: true });
  await c.waitFor(SWITCHING, 'the 101');
  c.socket.end();
  await c.waitFor('late', 'the upstream’s answer within the grace');
  const ms = await within(gw.closed, 'the tunnel closed');
  assert.ok(ms >= 900, `closed after ${ms} ms: the grace is 1 s`);
  await within(c.closed, 'the client’s connection closed');
});

test('an upstream that ends while the client’s bytes to it are stuck: both sockets go after the grace', async (t) => {
  // The upstream stops reading, then ends its half: the bytes the client keeps sending
  // pile up in the tunnel, so the tunnel's end towards the upstream never finishes.
  const upstream = await rawUpstream(t, (socket) => {
    socket.pause();
    socket.write(SWITCHING);
  });
  const gw = await front(t, upstream.url);
  const c = client(t, gw.port, [], { allowHalfOpen: true });
  await c.waitFor(SWITCHING, 'the 101');
  const chunk = Buffer.alloc(1 << 20, 'x');
  for (let i = 0; i < 64; i++) c.socket.write(chunk);
  // The tunnel stops reading the client once its bytes towards the upstream pile up.
  const [gatewaySide] = gw.clients;
  await until(() => gatewaySide.readableFlowing === false, 'the client’s bytes stuck');
  upstream.sockets[0].end();
  await within(c.ended, 'the upstream’s end passed on');
  await within(gw.closed, 'the tunnel closed');
});

test('a tunnel without a `closed` callback ends quietly', async (t) => {
  const upstream = await echoUpstream(t);
  const gw = await front(t, upstream.url, { closed: undefined });
  const c = client(t, gw.port);
  await c.waitFor(SWITCHING, 'the 101');
  const gatewaySide = once(gw.clients[0], 'close');
  c.socket.destroy();
  // A throw from the tunnel's own close handler would be an uncaught exception (and
  // this listener, added after it, never called).
  await within(gatewaySide, 'the gateway’s side closed');
});
