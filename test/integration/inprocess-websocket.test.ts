/**
 * `Upgrade` requests through the real gateway (in-process, manual clock) in front of a
 * real upgrade-speaking upstream on loopback: admitted like any request, the handshake
 * replayed with sluice's identity and forwarding headers (the client's copies gone) on
 * the canonical target, bytes piped both ways, the account's concurrency slot given back
 * when the tunnel closes; refusals and an unreachable upstream answered on the socket.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { type AddressInfo, connect, createServer as createNetServer, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { closedPortUrl } from '../helpers/http.ts';
import {
  type InProcessGateway,
  startInProcessGateway,
  until,
} from '../helpers/in-process-gateway.ts';

/** What the upstream saw of each handshake. */
const seen: { method: string; url: string; headers: IncomingHttpHeaders }[] = [];
let upstream: Server;
let upstreamUrl: string;
before(async () => {
  upstream = createServer((_req, res) => res.end('not an upgrade'));
  upstream.on('upgrade', (req, socket: Socket, head: Buffer) => {
    seen.push({ method: String(req.method), url: String(req.url), headers: req.headers });
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n',
    );
    // Echoes everything (bytes that came with the handshake first), and ends the tunnel
    // from its side once the client's `ping` is back.
    let got = head.toString();
    if (head.length > 0) socket.write(head);
    socket.on('data', (d) => {
      got += d;
      socket.write(d);
      if (got.endsWith('ping')) socket.end();
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
after(() => {
  upstream.closeAllConnections();
  return new Promise((r) => upstream.close(r));
});

async function gateway(t: { after(fn: () => unknown): void }, policy = '', target = upstreamUrl) {
  const g = await startInProcessGateway({ upstream: target, policy });
  t.after(() => g.close());
  return g;
}

interface Opened {
  status: number;
  head: string;
  /** The body of a refusal (the socket is closed after it). */
  body: string;
  /** What came back for `ping`, on a 101. */
  echoed?: string;
}

/**
 * A raw upgrade handshake (with `early` bytes right behind it, before any answer); on a
 * 101 sends `ping`, reads the echo and closes.
 */
function open(
  g: InProcessGateway,
  target: string,
  headerLines: string[],
  early = '',
): Promise<Opened> {
  const { port } = new URL(g.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let data = Buffer.alloc(0);
    let head: string | undefined;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to the upgrade of ${target}`));
    }, 10_000);
    const done = (o: Opened) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(o);
    };
    socket.on('data', (d) => {
      data = Buffer.concat([data, d]);
      if (head === undefined) {
        const end = data.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = data.subarray(0, end).toString('latin1');
        data = data.subarray(end + 4);
        if (head.startsWith('HTTP/1.1 101')) socket.write('ping');
      }
      if (head.startsWith('HTTP/1.1 101') && data.length >= early.length + 4) {
        done({ status: 101, head, body: '', echoed: data.toString() });
      }
    });
    socket.on('end', () => {
      if (head === undefined) return reject(new Error('closed without an answer'));
      done({ status: Number(head.split(' ')[1]), head, body: data.toString() });
    });
    socket.on('error', reject);
    socket.write(
      `GET ${target} HTTP/1.1\r\nhost: api.example.com\r\nconnection: Upgrade\r\nupgrade: websocket\r\n${headerLines.map((l) => `${l}\r\n`).join('')}\r\n${early}`,
    );
  });
}

test('an upgrade is replayed to the upstream with sluice’s headers on the canonical target, and piped', async (t) => {
  const g = await gateway(t);
  const { key, id } = g.addKey('acme');
  seen.length = 0;
  const opened = await open(
    g,
    '/api/./socket?room=1',
    [
      `authorization: Bearer ${key}`,
      'x-sluice-account: forged',
      'x-forwarded-for: 203.0.113.66',
      'x-custom: kept',
    ],
    'hi!!',
  );
  assert.equal(opened.status, 101, opened.head);
  assert.equal(opened.echoed, 'hi!!ping', 'bytes sent before the answer are passed on first');
  assert.equal(seen.length, 1);
  const [handshake] = seen;
  assert.equal(handshake.method, 'GET');
  assert.equal(handshake.url, '/api/socket?room=1');
  assert.equal(handshake.headers['x-sluice-account'], 'acme');
  assert.equal(handshake.headers['x-sluice-key-id'], id);
  assert.equal(handshake.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(handshake.headers.host, 'api.example.com', 'server.preserveHost: the client’s Host');
  assert.equal(handshake.headers['x-custom'], 'kept');
  assert.equal(handshake.headers.authorization, undefined, 'a sluice key is stripped');
  assert.equal(handshake.headers.upgrade, 'websocket');
});

test('a closed tunnel gives back its concurrency slot: tunnels one after another all open', async (t) => {
  const g = await gateway(t, 'plans:\n  standard: { concurrency: 1, queue: 0 }\n');
  const { key } = g.addKey('acme');
  for (let i = 0; i < 3; i++) {
    // The gateway hears of the end a moment after the client: the next one may be
    // refused until then (well before the tunnel's 1 s grace for a half-closed socket).
    let opened: Opened | undefined;
    await until(
      async () => {
        opened = await open(g, '/socket', [`authorization: Bearer ${key}`]);
        return opened.status === 101;
      },
      `tunnel ${i + 1} opens`,
      900,
    );
    assert.equal(opened?.echoed, 'ping');
  }
});

test('an upgrade to the usage page is tunnelled like any other path, not answered by sluice', async (t) => {
  const g = await gateway(t);
  const { key } = g.addKey('acme');
  seen.length = 0;
  const opened = await open(g, '/.well-known/sluice/usage', [`authorization: Bearer ${key}`]);
  assert.equal(opened.status, 101, opened.head);
  assert.deepEqual(
    seen.map((s) => s.url),
    ['/.well-known/sluice/usage'],
  );
});

test('a refused upgrade gets the problem+json answer on its socket, and never reaches the upstream', async (t) => {
  const g = await gateway(t);
  const { key, id } = g.addKey('acme');
  g.records.putKey({ ...g.records.getKey(id)!, status: 'revoked' });
  seen.length = 0;
  const refused = await open(g, '/socket', [`authorization: Bearer ${key}`]);
  assert.equal(refused.status, 403);
  assert.match(refused.head, /\r\ncontent-type: application\/problem\+json\r\n/);
  assert.equal(JSON.parse(refused.body).rule, 'key-revoked');
  assert.equal(seen.length, 0);
});

test('an upgrade with two Host headers is a 400, never tunnelled', async (t) => {
  const g = await gateway(t);
  seen.length = 0;
  const refused = await open(g, '/socket', ['host: other.example.com']);
  assert.equal(refused.status, 400);
  assert.equal(JSON.parse(refused.body).type, 'tag:sluice,2026:problem:bad-request');
  assert.equal(seen.length, 0);
});

test('an unreachable upstream: the upgrade is answered 502 and closed', async (t) => {
  const g = await gateway(t, '', await closedPortUrl());
  const answer = await open(g, '/socket', []);
  assert.equal(answer.status, 502);
  assert.match(
    answer.head,
    /^HTTP\/1\.1 502 Bad Gateway\r\ncontent-type: application\/problem\+json\r\nconnection: close\r\ncontent-length: \d+$/,
  );
  assert.deepEqual(JSON.parse(answer.body), {
    type: 'tag:sluice,2026:problem:upstream-unavailable',
    title: 'Bad Gateway',
    status: 502,
    detail: 'The upstream API cannot be reached right now. Try again later.',
  });
});

test('an upstream that accepts and never answers the handshake: 504 after server.upstreamTimeout', async (t) => {
  const sockets: Socket[] = [];
  const silent = createNetServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => silent.close(r));
  });
  const { port } = silent.address() as AddressInfo;
  const g = await gateway(t, 'server:\n  upstreamTimeout: 200ms\n', `http://127.0.0.1:${port}`);
  const answer = await open(g, '/socket', []);
  assert.equal(answer.status, 504);
  assert.match(
    answer.head,
    /^HTTP\/1\.1 504 Gateway Timeout\r\ncontent-type: application\/problem\+json\r\nconnection: close\r\ncontent-length: \d+$/,
  );
  assert.deepEqual(JSON.parse(answer.body), {
    type: 'tag:sluice,2026:problem:upstream-timeout',
    title: 'Gateway Timeout',
    status: 504,
    detail: 'The upstream API did not answer in time. Try again later.',
  });
});
