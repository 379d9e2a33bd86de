/**
 * The upstream exchange sluice runs on Bun (src/gateway/upstream-fetch-exchange.ts), driven
 * here on Node's own `fetch` so that the in-process test runs (and Stryker) see it: a real
 * node:http upstream, a real node:http "front" server whose handler hands its `res` to the
 * exchange as the proxy does, and a node:http client. Node ignores `decompress` (Bun's
 * option), so nothing here relies on compression.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  type ClientRequest,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { type TestContext, test } from 'node:test';
import type { RawHeaders, UpstreamExchange } from '../../src/gateway/upstream-exchange.ts';
import { type ExchangeRequest, fetchExchange } from '../../src/gateway/upstream-fetch-exchange.ts';

/** Every wait in this file is bounded: a hang fails the test with what it waited for. */
const WAIT_MS = 3_000;

function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

interface Listening {
  origin: string;
  close(): Promise<void>;
}

async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<Listening> {
  const server = createServer(handler);
  // Pinned, so the upstream's `keep-alive` header the exchange passes on is known.
  server.keepAliveTimeout = 5_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What one upstream request looked like, and when its response closed. */
interface Seen {
  req: IncomingMessage;
  res: ServerResponse;
  body: Promise<Buffer>;
  /** The first chunk of the request body. */
  data: Promise<void>;
  /** The response closed: `finished` false when the connection went before the end. */
  closed: Promise<{ finished: boolean }>;
}

/** An upstream that records each request and answers with `answer`. */
async function startUpstream(answer: (seen: Seen) => void) {
  const seen: Seen[] = [];
  const first = deferred<Seen>();
  const listening = await listen((req, res) => {
    const chunks: Buffer[] = [];
    const data = deferred();
    const body = new Promise<Buffer>((resolve) => {
      req.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        data.resolve();
      });
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', () => resolve(Buffer.concat(chunks)));
    });
    const closed = new Promise<{ finished: boolean }>((resolve) => {
      res.once('close', () => resolve({ finished: res.writableFinished }));
    });
    res.sendDate = false;
    const one: Seen = { req, res, body, data: data.promise, closed };
    seen.push(one);
    first.resolve(one);
    answer(one);
  });
  // Bounded like every other wait: a request that never comes fails the test.
  return { ...listening, seen, first: () => within(first.promise, 'the upstream request') };
}

/** One exchange as the front server saw it. */
interface Taken {
  exchange: UpstreamExchange;
  res: ServerResponse;
  heads: { status: number; raw: RawHeaders }[];
  ends: (Error | null)[];
  /** What each `res.write` answered (false: the client is behind). */
  writes: boolean[];
  /** The first `onEnd`. */
  ended: Promise<Error | null>;
  /** The first `res.write`. */
  wrote: Promise<void>;
  /** The first `res.write` that answered false. */
  blocked: Promise<void>;
  /** `res`'s drain and close listeners before the exchange, and when it ended. */
  listeners: { before: [number, number]; atEnd?: [number, number] };
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding']);

function listenerCounts(res: ServerResponse): [number, number] {
  return [res.listenerCount('drain'), res.listenerCount('close')];
}

/**
 * A front server that proxies each request through `fetchExchange(upstream, timeoutMs)`,
 * as the gateway does: the head passed on without hop-by-hop headers, an error before the
 * head answered 502 with the error's code, after it the connection cut, and `abort()` when
 * the client goes away.
 */
async function startFront(
  upstream: string,
  timeoutMs: number,
  request: (req: IncomingMessage) => ExchangeRequest,
) {
  const send = fetchExchange(upstream, timeoutMs);
  const taken: Taken[] = [];
  const first = deferred<Taken>();
  const listening = await listen((req, res) => {
    const ended = deferred<Error | null>();
    const wrote = deferred();
    const blocked = deferred();
    const one: Taken = {
      exchange: { abort: () => {} },
      res,
      heads: [],
      ends: [],
      writes: [],
      ended: ended.promise,
      wrote: wrote.promise,
      blocked: blocked.promise,
      listeners: { before: [0, 0] },
    };
    const write = res.write.bind(res) as (chunk: Uint8Array) => boolean;
    res.write = ((chunk: Uint8Array) => {
      const more = write(chunk);
      one.writes.push(more);
      wrote.resolve();
      if (!more) blocked.resolve();
      return more;
    }) as typeof res.write;
    one.exchange = send(
      request(req),
      res,
      (status, raw) => {
        one.heads.push({ status, raw });
        const passed: string[] = [];
        for (let i = 0; i < raw.length; i += 2) {
          const name = String(raw[i]);
          if (!HOP_BY_HOP.has(name)) passed.push(name, String(raw[i + 1]));
        }
        res.writeHead(status, passed);
      },
      (error) => {
        one.ends.push(error);
        one.listeners.atEnd = listenerCounts(res);
        ended.resolve(error);
        if (error === null) return;
        if (res.headersSent) res.destroy();
        else {
          const code = (error as Error & { code?: string }).code ?? error.message;
          res.writeHead(502, { 'content-type': 'text/plain' }).end(code);
        }
      },
    );
    res.once('close', () => one.exchange.abort());
    // Taken after the front's own listener; the exchange adds its own only later.
    one.listeners.before = listenerCounts(res);
    taken.push(one);
    first.resolve(one);
  });
  return { ...listening, taken, first: () => within(first.promise, 'the front request') };
}

/** What the client got: `complete` false when the answer was cut. */
interface Answer {
  status: number;
  raw: string[];
  body: Buffer;
  complete: boolean;
}

/**
 * A request to the front; the body is read only once `hold` (if any) resolves, so a held
 * client pushes back on the front's `res`. Never rejects: a failed request is status 0.
 */
function ask(
  origin: string,
  path: string,
  options: { method?: string; body?: Buffer; hold?: Promise<void> } = {},
): { request: ClientRequest; answer: Promise<Answer> } {
  let request!: ClientRequest;
  const answer = new Promise<Answer>((resolve) => {
    request = httpRequest(
      origin + path,
      { method: options.method ?? 'GET', agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        const settle = (complete: boolean) =>
          resolve({
            status: res.statusCode ?? 0,
            raw: res.rawHeaders,
            body: Buffer.concat(chunks),
            complete,
          });
        res.once('end', () => settle(true));
        res.once('close', () => settle(res.complete));
        void (options.hold ?? Promise.resolve()).then(() => {
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
        });
      },
    );
    request.on('error', () =>
      resolve({ status: 0, raw: [], body: Buffer.alloc(0), complete: false }),
    );
    request.end(options.body);
  });
  return { request, answer };
}

/** The proxy's request for a client request: same path, method and headers given, no body. */
function plain(headers: Record<string, string | string[]> = {}) {
  return (req: IncomingMessage): ExchangeRequest => ({
    path: req.url ?? '/',
    method: req.method ?? 'GET',
    headers,
    body: null,
  });
}

/** Lets the callbacks that an event already queued run (promise jobs, then I/O). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

test('a GET: its headers reach the upstream (a repeated one as repeated pairs); the status, the raw headers and the streamed body come back; onEnd(null) once', async (t) => {
  const upstream = await startUpstream(({ res }) => {
    res.setHeader('Content-Type', 'text/plain');
    res.setHeader('Set-Cookie', ['a=1; Path=/', 'b=2']);
    res.setHeader('X-Multi', ['p', 'q']);
    res.flushHeaders();
    res.write('hello ');
    setTimeout(() => res.end('world'), 20);
  });
  const front = await startFront(
    upstream.origin,
    1_000,
    plain({ 'x-rep': ['one', 'two'], 'x-up': 'value', accept: 'text/plain' }),
  );
  t.after(() => Promise.all([front.close(), upstream.close()]));

  const { answer } = ask(front.origin, '/api/items?id=1');
  const got = await within(answer, 'the answer');
  const taken = await front.first();

  const seen = await upstream.first();
  assert.equal(seen.req.method, 'GET');
  assert.equal(seen.req.url, '/api/items?id=1');
  // Node's fetch sends the repeated pairs as one comma-joined line (so does Bun's).
  assert.equal(seen.req.headers['x-rep'], 'one, two');
  assert.equal(seen.req.headers['x-up'], 'value');
  assert.equal(seen.req.headers.accept, 'text/plain');

  // Names lower-cased and sorted, Set-Cookie one entry per cookie, other repeats joined.
  assert.deepEqual(taken.heads, [
    {
      status: 200,
      raw: [
        'connection',
        'keep-alive',
        'content-type',
        'text/plain',
        'keep-alive',
        'timeout=5',
        'set-cookie',
        'a=1; Path=/',
        'set-cookie',
        'b=2',
        'transfer-encoding',
        'chunked',
        'x-multi',
        'p, q',
      ],
    },
  ]);
  assert.equal(got.status, 200);
  assert.equal(got.complete, true);
  assert.equal(got.body.toString(), 'hello world');
  assert.deepEqual(
    got.raw.filter((_, i) => got.raw[i - 1] === 'set-cookie' || got.raw[i] === 'set-cookie'),
    ['set-cookie', 'a=1; Path=/', 'set-cookie', 'b=2'],
  );
  // One write or two (the parts may come in one read), none pushed back.
  assert.ok(taken.writes.length > 0 && taken.writes.every((more) => more));
  assert.deepEqual(taken.ends, [null]);
  // No listener of the exchange's is left on the response.
  assert.deepEqual(taken.listeners.atEnd, taken.listeners.before);

  // abort() after the end (the front's own 'close' listener has called it already): nothing.
  taken.exchange.abort();
  taken.exchange.abort();
  await settle();
  assert.deepEqual(taken.ends, [null]);
  assert.equal(upstream.seen.length, 1);
});

test('an answer without a body (204): the head, res.end() and onEnd(null)', async (t) => {
  const upstream = await startUpstream(({ res }) => {
    res.writeHead(204, { 'x-done': 'yes' }).end();
  });
  const front = await startFront(upstream.origin, 1_000, plain());
  t.after(() => Promise.all([front.close(), upstream.close()]));

  const got = await within(
    ask(front.origin, '/api/items/1', { method: 'DELETE' }).answer,
    'the answer',
  );
  const taken = await front.first();
  assert.equal((await upstream.first()).req.method, 'DELETE');
  assert.equal(got.status, 204);
  assert.equal(got.complete, true);
  assert.deepEqual(taken.heads, [
    { status: 204, raw: ['connection', 'keep-alive', 'keep-alive', 'timeout=5', 'x-done', 'yes'] },
  ]);
  assert.deepEqual(taken.writes, []);
  assert.deepEqual(taken.ends, [null]);
});

/** An upstream that answers each request with the length and SHA-256 of its body. */
function digestOf(bytes: Buffer): string {
  return `${bytes.length} ${createHash('sha256').update(bytes).digest('hex')}`;
}

async function echoDigest() {
  return startUpstream(({ body, res }) => {
    void body.then((bytes) => res.end(digestOf(bytes)));
  });
}

test('a Buffer body reaches the upstream intact', async (t) => {
  const upstream = await echoDigest();
  const payload = randomBytes(200_000);
  const front = await startFront(upstream.origin, 1_000, (req) => ({
    path: req.url ?? '/',
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: payload,
  }));
  t.after(() => Promise.all([front.close(), upstream.close()]));

  const got = await within(
    ask(front.origin, '/api/upload', { method: 'POST' }).answer,
    'the answer',
  );
  const seen = await upstream.first();
  assert.equal(seen.req.method, 'POST');
  assert.equal(seen.req.headers['content-length'], String(payload.length));
  assert.equal(seen.req.headers['content-type'], 'application/octet-stream');
  assert.equal(got.status, 200);
  assert.equal(got.body.toString(), digestOf(payload));
  assert.deepEqual((await front.first()).ends, [null]);
});

test("a streamed body (the client's request itself) reaches the upstream intact", async (t) => {
  const upstream = await echoDigest();
  const payload = randomBytes(300_000);
  const front = await startFront(upstream.origin, 1_000, (req) => ({
    path: req.url ?? '/',
    method: 'PUT',
    headers: {},
    body: req,
  }));
  t.after(() => Promise.all([front.close(), upstream.close()]));

  const got = await within(
    ask(front.origin, '/api/upload', { method: 'PUT', body: payload }).answer,
    'the answer',
  );
  const seen = await upstream.first();
  assert.equal(seen.req.method, 'PUT');
  assert.equal(seen.req.headers['transfer-encoding'], 'chunked');
  assert.equal(got.status, 200);
  assert.equal(got.body.toString(), digestOf(payload));
  assert.deepEqual((await front.first()).ends, [null]);
});

test('a streamed body that fails ends the exchange with its error, once, and aborts the upstream request', async (t) => {
  // The upstream waits for the whole body, which never comes.
  const upstream = await startUpstream(() => {});
  const broken = new Error('request body broke');
  const body = new Readable({ read() {} });
  body.push('first part');
  const front = await startFront(upstream.origin, 2_000, (req) => ({
    path: req.url ?? '/',
    method: 'POST',
    headers: {},
    body,
  }));
  t.after(() => Promise.all([front.close(), upstream.close()]));

  const { answer } = ask(front.origin, '/api/upload', { method: 'POST' });
  const seen = await upstream.first();
  await within(seen.data, 'the first part at the upstream');
  body.destroy(broken);

  const taken = await front.first();
  assert.equal(await within(taken.ended, 'onEnd'), broken);
  assert.deepEqual(await within(seen.closed, 'the upstream request closed'), { finished: false });
  const got = await within(answer, 'the answer');
  assert.equal(got.status, 502);
  assert.equal(got.body.toString(), 'request body broke');
  assert.deepEqual(taken.heads, []);
  assert.deepEqual(taken.ends, [broken]);
});

test('a streamed body that fails once the head is in: onEnd with its error, once, and the upstream request aborted', async (t) => {
  // The upstream answers at once and keeps its answer open, reading the body meanwhile.
  const upstream = await startUpstream(({ res }) => {
    res.writeHead(200);
    res.write('part one');
  });
  const broken = new Error('request body broke');
  const body = new Readable({ read() {} });
  body.push('first part');
  const front = await startFront(upstream.origin, 2_000, (req) => ({
    path: req.url ?? '/',
    method: 'POST',
    headers: {},
    body,
  }));
  t.after(() => Promise.all([front.close(), upstream.close()]));

  const { answer } = ask(front.origin, '/api/upload', { method: 'POST' });
  const taken = await front.first();
  await within(taken.wrote, 'the first write');
  body.destroy(broken);

  assert.equal(await within(taken.ended, 'onEnd'), broken);
  assert.deepEqual(await within((await upstream.first()).closed, 'the upstream request closed'), {
    finished: false,
  });
  const got = await within(answer, 'the answer');
  assert.equal(got.complete, false);
  assert.equal(got.body.toString(), 'part one');
  assert.deepEqual(taken.ends, [broken]);
});

test('a streamed body that fails after the answer is complete: onEnd(null) only', async (t) => {
  // The upstream answers without reading the body (as one refusing an upload would).
  const upstream = await startUpstream(({ res }) => {
    res.writeHead(413, { 'content-length': '9' }).end('too large');
  });
  const body = new Readable({ read() {} });
  body.push('first part');
  const front = await startFront(upstream.origin, 2_000, (req) => ({
    path: req.url ?? '/',
    method: 'POST',
    headers: {},
    body,
  }));
  t.after(() => Promise.all([front.close(), upstream.close()]));

  const { answer } = ask(front.origin, '/api/upload', { method: 'POST' });
  const taken = await front.first();
  assert.equal(await within(taken.ended, 'onEnd'), null);
  // Before the response's 'close' (whose abort() would hide a second onEnd).
  body.destroy(new Error('request body broke late'));
  await settle();
  const got = await within(answer, 'the answer');
  assert.equal(got.status, 413);
  assert.equal(got.body.toString(), 'too large');
  await settle();
  assert.deepEqual(taken.ends, [null]);
});

test("redirect 'manual': a 302 is passed on with its Location, not followed", async (t) => {
  const upstream = await startUpstream(({ req, res }) => {
    if (req.url === '/old') res.writeHead(302, { location: '/new', 'content-length': '0' }).end();
    else res.end('followed');
  });
  const front = await startFront(upstream.origin, 1_000, plain());
  t.after(() => Promise.all([front.close(), upstream.close()]));

  const got = await within(ask(front.origin, '/old').answer, 'the answer');
  const taken = await front.first();
  assert.equal(got.status, 302);
  assert.equal(got.body.length, 0);
  assert.deepEqual(taken.heads, [
    {
      status: 302,
      raw: [
        'connection',
        'keep-alive',
        'content-length',
        '0',
        'keep-alive',
        'timeout=5',
        'location',
        '/new',
      ],
    },
  ]);
  assert.deepEqual(
    upstream.seen.map((s) => s.req.url),
    ['/old'],
  );
  assert.deepEqual(taken.ends, [null]);
});

test('no head within timeoutMs: onEnd(UND_ERR_HEADERS_TIMEOUT) once, the upstream request closed', async (t) => {
  const upstream = await startUpstream(() => {}); // never answers
  const front = await startFront(upstream.origin, 150, plain());
  t.after(() => Promise.all([front.close(), upstream.close()]));

  const started = performance.now();
  const { answer } = ask(front.origin, '/api/slow');
  const taken = await front.first();
  const error = (await within(taken.ended, 'onEnd')) as Error & { code?: string };
  assert.ok(performance.now() - started >= 150);
  assert.equal(error.code, 'UND_ERR_HEADERS_TIMEOUT');
  assert.equal(error.message, 'upstream headers timeout');
  assert.deepEqual(await within((await upstream.first()).closed, 'the upstream request closed'), {
    finished: false,
  });
  const got = await within(answer, 'the answer');
  assert.equal(got.status, 502);
  assert.equal(got.body.toString(), 'UND_ERR_HEADERS_TIMEOUT');
  assert.deepEqual(taken.heads, []);
  assert.equal(taken.ends.length, 1);
});

test('a body gap longer than timeoutMs after the head: onEnd(UND_ERR_BODY_TIMEOUT) once', async (t) => {
  const upstream = await startUpstream(({ res }) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('part one'); // and then nothing
  });
  // Long enough for the head to arrive first on a busy machine.
  const front = await startFront(upstream.origin, 300, plain());
  t.after(() => Promise.all([front.close(), upstream.close()]));

  const { answer } = ask(front.origin, '/api/stalls');
  const taken = await front.first();
  const error = (await within(taken.ended, 'onEnd')) as Error & { code?: string };
  assert.equal(error.code, 'UND_ERR_BODY_TIMEOUT');
  assert.equal(error.message, 'upstream body timeout');
  assert.deepEqual(await within((await upstream.first()).closed, 'the upstream request closed'), {
    finished: false,
  });
  const got = await within(answer, 'the answer');
  assert.equal(got.status, 200);
  assert.equal(got.complete, false);
  assert.equal(got.body.toString(), 'part one');
  assert.equal(taken.heads.length, 1);
  assert.equal(taken.ends.length, 1);
});

test('a slow but steady body (each gap shorter than timeoutMs, the whole longer) is not timed out', async (t) => {
  const timeoutMs = 300;
  const parts = ['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
  let upstreamMs = 0;
  const upstream = await startUpstream(({ res }) => {
    const started = performance.now();
    res.writeHead(200);
    let i = 0;
    const next = () => {
      if (i === parts.length) {
        upstreamMs = performance.now() - started;
        res.end();
        return;
      }
      res.write(parts[i++]);
      setTimeout(next, 60);
    };
    next();
  });
  const front = await startFront(upstream.origin, timeoutMs, plain());
  t.after(() => Promise.all([front.close(), upstream.close()]));

  const got = await within(ask(front.origin, '/api/trickle').answer, 'the answer');
  const taken = await front.first();
  assert.ok(upstreamMs > timeoutMs, `the body took ${upstreamMs} ms, more than the timeout`);
  assert.deepEqual(taken.ends, [null]);
  assert.equal(got.complete, true);
  assert.equal(got.body.toString(), parts.join(''));
});

test('abort() before the head: the upstream request is closed, no onHead, no onEnd; a second abort() is harmless', async (t) => {
  const upstream = await startUpstream(() => {}); // never answers
  const front = await startFront(upstream.origin, 2_000, plain());
  t.after(() => Promise.all([front.close(), upstream.close()]));

  const { request } = ask(front.origin, '/api/slow');
  const seen = await upstream.first();
  const taken = await front.first();
  taken.exchange.abort();
  assert.deepEqual(await within(seen.closed, 'the upstream request closed'), { finished: false });
  taken.exchange.abort();
  await settle();
  assert.deepEqual(taken.heads, []);
  assert.deepEqual(taken.ends, []);
  request.destroy();
});

test('abort() mid-body: nothing more is written, no onEnd, the upstream request is closed', async (t) => {
  const more = deferred();
  const upstream = await startUpstream(({ res }) => {
    res.writeHead(200);
    res.write('part one');
    void more.promise.then(() => res.write('part two'));
  });
  const front = await startFront(upstream.origin, 2_000, plain());
  t.after(() => Promise.all([front.close(), upstream.close()]));

  const { request } = ask(front.origin, '/api/items');
  const taken = await front.first();
  await within(taken.wrote, 'the first write');
  taken.exchange.abort();
  more.resolve();
  assert.deepEqual(await within((await upstream.first()).closed, 'the upstream request closed'), {
    finished: false,
  });
  await settle();
  assert.equal(taken.heads.length, 1);
  assert.deepEqual(taken.writes, [true]);
  assert.deepEqual(taken.ends, []);
  request.destroy();
});

test('the upstream refuses the connection: onEnd with fetch’s error, once', async (t) => {
  const closed = await listen(() => {});
  const origin = closed.origin;
  await closed.close();
  const front = await startFront(origin, 1_000, plain());
  t.after(() => front.close());

  const got = await within(ask(front.origin, '/api/items').answer, 'the answer');
  const taken = await front.first();
  assert.equal(got.status, 502);
  assert.equal(got.body.toString(), 'fetch failed');
  assert.equal(taken.ends.length, 1);
  const error = taken.ends[0] as Error & { cause?: { code?: string } };
  assert.ok(error instanceof TypeError);
  assert.equal(error.message, 'fetch failed');
  assert.equal(error.cause?.code, 'ECONNREFUSED');
  assert.deepEqual(taken.heads, []);
});

/**
 * Wraps the global `fetch` for the rest of the test: `wrap` sees each response as fetch
 * resolves it, before the exchange goes on. An `abort()` that lands in between (the
 * client's close and the upstream's head or chunk at once) is a window the event loop
 * does not open on demand; this opens it. The request itself is fetch's own.
 */
function wrapFetch(t: TestContext, wrap: (response: Response) => Response): void {
  const real = globalThis.fetch;
  globalThis.fetch = async (input, init) => wrap(await real(input, init));
  t.after(() => {
    globalThis.fetch = real;
  });
}

test('the client going away as the head arrives: no onHead, no onEnd, the upstream request closed', async (t) => {
  const upstream = await startUpstream(({ res }) => {
    res.writeHead(200);
    res.write('part one');
  });
  const front = await startFront(upstream.origin, 2_000, plain());
  t.after(() => Promise.all([front.close(), upstream.close()]));
  wrapFetch(t, (response) => {
    front.taken[0]?.exchange.abort();
    return response;
  });

  const { request } = ask(front.origin, '/api/items');
  const taken = await front.first();
  assert.deepEqual(await within((await upstream.first()).closed, 'the upstream request closed'), {
    finished: false,
  });
  await settle();
  assert.deepEqual(taken.heads, []);
  assert.deepEqual(taken.writes, []);
  assert.deepEqual(taken.ends, []);
  request.destroy();
});

test('the client going away as a body chunk arrives: the chunk is not written, no onEnd', async (t) => {
  const upstream = await startUpstream(({ res }) => {
    res.writeHead(200);
    res.write('part one');
  });
  const front = await startFront(upstream.origin, 2_000, plain());
  t.after(() => Promise.all([front.close(), upstream.close()]));
  wrapFetch(t, (response) => {
    const reader = response.body!.getReader();
    // The body as fetch reads it, the exchange aborted as each chunk is handed on.
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) return controller.close();
        front.taken[0]?.exchange.abort();
        controller.enqueue(value);
      },
    });
    return new Response(body, { status: response.status, headers: response.headers });
  });

  const { request } = ask(front.origin, '/api/items');
  const taken = await front.first();
  assert.deepEqual(await within((await upstream.first()).closed, 'the upstream request closed'), {
    finished: false,
  });
  await settle();
  assert.equal(taken.heads.length, 1);
  assert.deepEqual(taken.writes, []);
  assert.deepEqual(taken.ends, []);
  request.destroy();
});

/** An upstream that sends `payload` as fast as its socket takes it, counting what it sent. */
async function bulkUpstream(payload: Buffer) {
  const progress = { sent: 0, at: performance.now(), finished: false };
  const upstream = await startUpstream(({ res }) => {
    res.writeHead(200, { 'content-length': String(payload.length) });
    const step = 64 * 1024;
    const pump = () => {
      while (progress.sent < payload.length) {
        const chunk = payload.subarray(progress.sent, progress.sent + step);
        progress.sent += chunk.length;
        progress.at = performance.now();
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end(() => {
        progress.finished = true;
      });
    };
    pump();
  });
  return { upstream, progress };
}

/**
 * Resolves once the upstream has finished or made no progress for `quietMs`: the client
 * held until then tells whether the exchange held the upstream back.
 */
function stalled(progress: { at: number; finished: boolean }, quietMs = 150): Promise<void> {
  return new Promise((resolve, reject) => {
    let polls = 0;
    const timer = setInterval(() => {
      if (progress.finished || performance.now() - progress.at > quietMs) {
        clearInterval(timer);
        resolve();
      } else if (++polls > 200) {
        clearInterval(timer);
        reject(new Error('the upstream neither finished nor stalled'));
      }
    }, 20);
  });
}

test('a slow client: the exchange waits for drain, reads no further ahead of it, and the whole body arrives intact', async (t) => {
  const payload = randomBytes(16 * 1024 * 1024);
  const { upstream, progress } = await bulkUpstream(payload);
  const front = await startFront(upstream.origin, 2_000, plain());
  t.after(() => Promise.all([front.close(), upstream.close()]));

  const hold = deferred();
  const { answer } = ask(front.origin, '/api/export', { hold: hold.promise });
  const taken = await front.first();
  await within(taken.blocked, 'a write answered false');
  await within(stalled(progress), 'the upstream stalled');
  // What the response holds in memory for the held client: one chunk past its mark at
  // most when the exchange waits for drain, all the upstream sent when it does not.
  const buffered = taken.res.writableLength;
  hold.resolve();

  const got = await within(answer, 'the answer');
  assert.ok(buffered < 1024 * 1024, `${buffered} bytes buffered for the held client`);
  assert.ok(progress.sent === payload.length && progress.finished);
  assert.equal(got.complete, true);
  assert.equal(got.body.length, payload.length);
  assert.ok(got.body.equals(payload));
  assert.ok(taken.writes.includes(false));
  assert.deepEqual(taken.ends, [null]);
  assert.deepEqual(taken.listeners.atEnd, taken.listeners.before);
});

test('the client going away during a drain wait: the upstream request is closed, no onEnd', async (t) => {
  const payload = randomBytes(16 * 1024 * 1024);
  const { upstream, progress } = await bulkUpstream(payload);
  const front = await startFront(upstream.origin, 2_000, plain());
  t.after(() => Promise.all([front.close(), upstream.close()]));

  const { request } = ask(front.origin, '/api/export', { hold: new Promise(() => {}) });
  const taken = await front.first();
  await within(taken.blocked, 'a write answered false');
  await within(stalled(progress), 'the upstream stalled');
  const writes = taken.writes.length;
  request.destroy();

  assert.deepEqual(await within((await upstream.first()).closed, 'the upstream request closed'), {
    finished: false,
  });
  await settle();
  assert.deepEqual(taken.ends, []);
  assert.equal(taken.writes.length, writes);
  // The drain wait let go of the response: its listener is gone with the client.
  assert.equal(taken.res.listenerCount('drain'), taken.listeners.before[0]);
});
