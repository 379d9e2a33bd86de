/**
 * The gateway's listener (gateway/http-server.ts) on a real loopback socket, with its own
 * handlers in place of the pipeline and raw bytes from node:net: what goes to `local`,
 * `handle` and `upgrade`, a handler that throws (one request lost, not the process), the
 * 400 and 408 it writes itself, and that an answer already on its way never gets a
 * second one written into it.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { test } from 'node:test';
import {
  createGatewayServer,
  type GatewayServerOptions,
  sendJson,
} from '../../src/gateway/http-server.ts';

/** What the server's handlers saw. */
interface Seen {
  handled: string[];
  local: string[];
  upgrades: { url: string; head: string }[];
  errors: unknown[];
}

/**
 * A listener on 127.0.0.1 with a request timeout of 250 ms: `/mine` is a local route
 * (sendJson), any other request is `handle`d with `200 up`, an upgrade is switched and
 * its first bytes echoed back. Each handler can be replaced.
 */
async function start(overrides: Partial<GatewayServerOptions> = {}) {
  const seen: Seen = { handled: [], local: [], upgrades: [], errors: [] };
  const server: Server = createGatewayServer({
    local(req, res) {
      seen.local.push(`${req.method} ${req.url}`);
      if (req.url !== '/mine') return false;
      sendJson(res, 200, { mine: true });
      return true;
    },
    handle(req, res) {
      seen.handled.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-length': 2 });
      res.end('up');
    },
    upgrade(req, socket, head) {
      seen.upgrades.push({ url: req.url ?? '', head: head.toString() });
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: upgrade\r\n\r\n',
      );
      socket.end(head);
    },
    onError: (error) => seen.errors.push(error),
    requestTimeoutMs: 250,
    ...overrides,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { server, port, seen, close };
}

/** A raw connection: what it received so far, waited for until a test holds or it closes. */
function client(port: number) {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let closed = false;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const waiter of [...waiters]) waiter();
  };
  socket.on('data', (d) => {
    chunks.push(d);
    wake();
  });
  socket.on('close', () => {
    closed = true;
    wake();
  });
  socket.on('error', () => {});
  const text = () => Buffer.concat(chunks).toString('utf8');
  /** Resolves once `done(received)` holds or the connection closed, at most `ms`. */
  const wait = (done: (received: string) => boolean, ms: number) =>
    new Promise<{ text: string; closed: boolean }>((resolve) => {
      const settle = () => {
        clearTimeout(timer);
        waiters.delete(check);
        resolve({ text: text(), closed });
      };
      const check = () => {
        if (closed || done(text())) settle();
      };
      const timer = setTimeout(settle, ms);
      waiters.add(check);
      check();
    });
  return {
    write: (bytes: string) => socket.write(bytes),
    wait,
    /** Everything received until the server closes the connection, at most `ms`. */
    untilClosed: (ms = 3_000) => wait(() => false, ms),
    destroy: () => socket.destroy(),
  };
}

/** The status lines of every answer in `text`. */
const statusLines = (text: string) => text.match(/HTTP\/1\.1 \d{3}[^\r]*/g) ?? [];

/** The JSON body after the last blank line of `text`. */
const lastBody = (text: string) => JSON.parse(text.slice(text.lastIndexOf('\r\n\r\n') + 4));

test('a sluice-owned path is answered by the local routes alone, with sendJson headers; any other goes to handle', async () => {
  const s = await start();
  try {
    const c = client(s.port);
    c.write(
      'GET /mine HTTP/1.1\r\nHost: x\r\n\r\nGET /api/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    const { text, closed } = await c.untilClosed();
    assert.ok(closed, text);
    assert.deepEqual(statusLines(text), ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
    const first = text.slice(0, text.indexOf('{"mine":true}'));
    assert.match(first, /\r\ncontent-type: application\/json\r\n/);
    assert.match(first, /\r\ncache-control: no-store\r\n/);
    assert.match(first, /\r\ncontent-length: 13\r\n/);
    assert.ok(text.endsWith('\r\n\r\nup'), text);
    assert.deepEqual(s.seen.local, ['GET /mine', 'GET /api/x']);
    assert.deepEqual(s.seen.handled, ['GET /api/x']);
  } finally {
    await s.close();
  }
});

test('a handler that throws costs that request a 500 internal problem, and the connection serves the next', async () => {
  const bug = new Error('bug in the pipeline');
  const s = await start({
    handle(req, res) {
      if (req.url === '/boom') throw bug;
      res.writeHead(200, { 'content-length': 2 });
      res.end('ok');
    },
  });
  try {
    const c = client(s.port);
    c.write('GET /boom HTTP/1.1\r\nHost: x\r\n\r\n');
    const first = await c.wait((t) => t.includes('sluice failed'), 3_000);
    assert.equal(first.closed, false, first.text);
    assert.deepEqual(statusLines(first.text), ['HTTP/1.1 500 Internal Server Error']);
    assert.match(first.text, /\r\ncontent-type: application\/problem\+json\r\n/);
    assert.deepEqual(lastBody(first.text), {
      type: 'tag:sluice,2026:problem:internal',
      title: 'Internal Server Error',
      status: 500,
      detail: 'sluice failed to handle this request.',
    });
    assert.deepEqual(s.seen.errors, [bug]);
    c.write('GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const { text, closed } = await c.untilClosed();
    assert.ok(closed, text);
    assert.ok(text.endsWith('\r\n\r\nok'), text);
  } finally {
    await s.close();
  }
});

test('a handler that throws after its answer started: the connection is closed on the cut answer, no 500 after it', async () => {
  const bug = new Error('bug halfway through an answer');
  const s = await start({
    handle(_req, res) {
      res.writeHead(200, { 'content-length': 10 });
      res.write('part');
      throw bug;
    },
  });
  try {
    const c = client(s.port);
    c.write('GET /api/x HTTP/1.1\r\nHost: x\r\n\r\n');
    const { text, closed } = await c.untilClosed(2_000);
    assert.ok(closed, `still open after 2 s: ${text}`);
    // Whatever part of the 200 got out before the close, nothing follows it.
    assert.ok(text === '' || text.endsWith('\r\n\r\npart'), text);
    assert.ok(
      statusLines(text).every((line) => line === 'HTTP/1.1 200 OK'),
      text,
    );
    assert.deepEqual(s.seen.errors, [bug]);
  } finally {
    await s.close();
  }
});

test('OPTIONS * is answered 204 by the listener: neither the local routes nor the handler see it', async () => {
  const s = await start();
  try {
    const c = client(s.port);
    c.write('OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const { text, closed } = await c.untilClosed();
    assert.ok(closed, text);
    assert.deepEqual(statusLines(text), ['HTTP/1.1 204 No Content']);
    assert.deepEqual(s.seen, { handled: [], local: [], upgrades: [], errors: [] });
  } finally {
    await s.close();
  }
});

test('an upgrade goes to the upgrade handler with its first bytes', async () => {
  const s = await start();
  try {
    const c = client(s.port);
    c.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nhello');
    const { text, closed } = await c.untilClosed();
    assert.ok(closed, text);
    assert.deepEqual(statusLines(text), ['HTTP/1.1 101 Switching Protocols']);
    assert.ok(text.endsWith('\r\n\r\nhello'), text);
    assert.deepEqual(s.seen.upgrades, [{ url: '/ws', head: 'hello' }]);
    assert.deepEqual(s.seen.handled, []);
  } finally {
    await s.close();
  }
});

test('an upgrade with a second Host is refused 400 problem+json and closed, never upgraded', async () => {
  const s = await start();
  try {
    const c = client(s.port);
    c.write(
      'GET /ws HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n',
    );
    const { text, closed } = await c.untilClosed();
    assert.ok(closed, `still open: ${text}`);
    const body = JSON.stringify({
      type: 'tag:sluice,2026:problem:bad-request',
      title: 'Bad Request',
      status: 400,
      detail: 'The request could not be parsed as HTTP/1.1.',
    });
    assert.equal(
      text,
      `HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\nconnection: close\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
    );
    assert.deepEqual(s.seen.upgrades, []);
  } finally {
    await s.close();
  }
});

test('an upgrade handler that throws: the error is reported and the connection closed', async () => {
  const bug = new Error('bug in the tunnel');
  const s = await start({
    upgrade() {
      throw bug;
    },
  });
  try {
    const c = client(s.port);
    c.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
    const { text, closed } = await c.untilClosed(2_000);
    assert.ok(closed, 'still open after 2 s');
    assert.equal(text, '');
    assert.deepEqual(s.seen.errors, [bug]);
  } finally {
    await s.close();
  }
});

test('request headers that stall get the 408 within the timeout and one check (100 ms here), not a second late', async () => {
  // requestTimeout 250 ms: Node checks every max(100, 250 / 4) ms, so the 408 is due by
  // about 350 ms; 750 ms leaves a wide margin and is still well short of a 1 s check.
  const s = await start();
  try {
    const c = client(s.port);
    const t0 = performance.now();
    c.write('GET /api/x HTTP/1.1\r\nHost: x\r\n');
    const { text, closed } = await c.untilClosed();
    const ms = performance.now() - t0;
    assert.ok(closed, text);
    assert.deepEqual(statusLines(text), ['HTTP/1.1 408 Request Timeout']);
    assert.equal(
      lastBody(text).detail,
      'The request and its body did not arrive within 250ms. Send the whole request at once.',
    );
    assert.ok(ms >= 200 && ms < 750, `408 after ${Math.round(ms)} ms`);
    assert.deepEqual(s.seen.handled, []);
  } finally {
    await s.close();
  }
});

test('after a whole answer, the next request on the connection still gets its own 400 when unparsable', async () => {
  const s = await start();
  try {
    const c = client(s.port);
    c.write('GET /api/x HTTP/1.1\r\nHost: x\r\n\r\n');
    const first = await c.wait((t) => t.endsWith('up'), 3_000);
    assert.deepEqual(statusLines(first.text), ['HTTP/1.1 200 OK']);
    c.write('NOT HTTP AT ALL\r\n\r\n');
    const { text, closed } = await c.untilClosed();
    assert.ok(closed, text);
    assert.deepEqual(statusLines(text), ['HTTP/1.1 200 OK', 'HTTP/1.1 400 Bad Request']);
    assert.equal(lastBody(text).type, 'tag:sluice,2026:problem:bad-request');
  } finally {
    await s.close();
  }
});

test('an answer on its way is never cut by a 400 for the garbage pipelined after its request', async () => {
  let answering: (() => void) | undefined;
  const s = await start({
    handle(_req, res) {
      res.writeHead(200, { 'content-length': 10 });
      res.write('first');
      answering = () => res.end('-half');
    },
  });
  try {
    const c = client(s.port);
    c.write('GET /api/x HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.wait((t) => t.endsWith('first'), 3_000);
    c.write('NOT HTTP AT ALL\r\n\r\n');
    const { text, closed } = await c.untilClosed();
    answering?.();
    assert.ok(closed, text);
    assert.deepEqual(statusLines(text), ['HTTP/1.1 200 OK']);
    assert.ok(text.endsWith('\r\n\r\nfirst'), text);
  } finally {
    await s.close();
  }
});

test('a request answered (kept alive) before its body arrived gets no 408 written after that answer', async () => {
  const s = await start({
    handle(_req, res) {
      res.writeHead(429, { 'content-length': 4 });
      res.end('slow');
    },
  });
  try {
    const c = client(s.port);
    c.write('POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhalf');
    const { text, closed } = await c.untilClosed();
    assert.ok(closed, text);
    assert.deepEqual(statusLines(text), ['HTTP/1.1 429 Too Many Requests']);
    assert.ok(text.endsWith('\r\n\r\nslow'), text);
  } finally {
    await s.close();
  }
});

test('a request timeout that is no multiple of 4 ms (1.25 s, 1001 ms) still makes a listener that answers', async () => {
  // The check interval is a quarter of the timeout, and Node refuses one that is no
  // whole number of ms: `requestTimeout: 1.25s` used to stop the gateway from starting.
  for (const requestTimeoutMs of [1_250, 1_001]) {
    const s = await start({ requestTimeoutMs });
    try {
      const c = client(s.port);
      c.write('GET /api/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      const { text, closed } = await c.untilClosed();
      assert.ok(closed, text);
      assert.ok(text.endsWith('\r\n\r\nup'), text);
    } finally {
      await s.close();
    }
  }
});

test('a badly framed request is the last on its connection: what was pipelined after it is neither answered nor handled', async () => {
  const s = await start();
  try {
    const c = client(s.port);
    c.write(
      'GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nNOT HTTP AT ALL\r\n\r\n',
    );
    const { text, closed } = await c.untilClosed();
    assert.ok(closed, text);
    assert.deepEqual(statusLines(text), ['HTTP/1.1 400 Bad Request']);
    assert.match(text, /\r\nconnection: close\r\n/);
    assert.equal(
      lastBody(text).detail,
      'The request has more than one Host header (RFC 9112 §3.2).',
    );
    assert.deepEqual(s.seen.handled, []);
  } finally {
    await s.close();
  }
});

test('bytes sent after a Connection: close request do not replace its answer with a 400', async () => {
  const s = await start({
    handle(_req, res) {
      // An answer that takes a moment (a held request, a slow upstream).
      setTimeout(() => {
        res.writeHead(200, { 'content-length': 2 });
        res.end('up');
      }, 100);
    },
  });
  try {
    const c = client(s.port);
    c.write('GET /api/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nNOT HTTP AT ALL\r\n\r\n');
    const { text, closed } = await c.untilClosed();
    assert.ok(closed, text);
    assert.deepEqual(statusLines(text), ['HTTP/1.1 200 OK']);
    assert.ok(text.endsWith('\r\n\r\nup'), text);
  } finally {
    await s.close();
  }
});

test('a Connection: close request whose own body is broken still gets its 400', async () => {
  const s = await start({
    handle(req, res) {
      // Reads the whole body before answering, as the pipeline buffers one.
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-length': 2 });
        res.end('up');
      });
    },
  });
  try {
    const c = client(s.port);
    c.write(
      'POST /api/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
    );
    const { text, closed } = await c.untilClosed();
    assert.ok(closed, `still open: ${text}`);
    assert.deepEqual(statusLines(text), ['HTTP/1.1 400 Bad Request']);
    assert.equal(lastBody(text).type, 'tag:sluice,2026:problem:bad-request');
  } finally {
    await s.close();
  }
});
