/**
 * Slow and greedy clients: the request timeout answers a body that does not arrive
 * (408), the per-IP and keyless caps refuse with 429 and a reference, and every slot
 * comes back whether the client vanished, timed out or the upstream failed. Bodies are
 * read before the upstream is used, and larger chunked bodies still pass intact.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import {
  type DemoGateway,
  type GatewayProcess,
  startDemoGateway,
  startGateway,
  tempDir,
  writePolicy,
} from '../helpers/gateway-process.ts';
import { closedPortUrl, eventually } from '../helpers/http.ts';

const POLICY = `
server:
  requestTimeout: 1s
  bufferBody: 64KiB
  unauthenticatedConcurrency: 3
ip:
  concurrency: 2
`;

let demo: DemoGateway;
let gateway: GatewayProcess;
let upstream: DemoGateway['upstream'];
let key: string;

before(async () => {
  demo = await startDemoGateway({ policy: POLICY, accounts: ['acme'] });
  ({ gateway, upstream } = demo);
  key = demo.keys.acme;
});

after(() => demo?.stop());

interface Raw {
  socket: Socket;
  /** Everything the gateway sent, once it closed the connection (bounded: 10 s). */
  answer: Promise<string>;
}

/** A POST announcing 1000 bytes of body from `localAddress`, of which it sends one. */
function slowPost(url: string, localAddress: string, headers = ''): Raw {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port), localAddress });
  let text = '';
  const answer = new Promise<string>((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(text);
    }, 10_000);
    socket.on('data', (d) => {
      text += d;
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
  socket.write(
    `POST /_test/upload-digest HTTP/1.1\r\nhost: ${hostname}\r\ncontent-length: 1000\r\n${headers}\r\nx`,
  );
  return { socket, answer };
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request from `localAddress` over a fresh connection (bounded: 10 s). */
function send(
  url: string,
  localAddress: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer[] } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, {
      method: options.method ?? 'GET',
      headers: options.headers,
      localAddress,
      agent: false,
      signal: AbortSignal.timeout(10_000),
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      // An answer cut off midway (or the 10 s bound) fails the request.
      res.on('error', reject);
    });
    req.on('error', reject);
    // Chunked: several writes and no content-length.
    for (const chunk of options.body ?? []) req.write(chunk);
    req.end();
  });
}

/** Lets the gateway read what the slow clients sent so far. */
const settle = () => new Promise((r) => setTimeout(r, 300));

test('a body that does not arrive in time is answered 408 problem+json, and its slots come back', async () => {
  const started = performance.now();
  const slow = [slowPost(gateway.url, '127.0.0.5'), slowPost(gateway.url, '127.0.0.5')];
  const answers = await Promise.all(slow.map((s) => s.answer));
  const waited = performance.now() - started;
  for (const text of answers) {
    assert.match(text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.match(text, /content-type: application\/problem\+json/);
    const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
    assert.equal(body.type, 'tag:sluice,2026:problem:request-timeout');
    assert.equal(body.status, 408);
  }
  assert.ok(waited < 3_000, `answered after ${Math.round(waited)} ms, the timeout is 1 s`);
  // Both of this IP's two slots were held by the timed-out requests: they are back.
  const after = await send(`${gateway.url}/_test/status/200`, '127.0.0.5');
  assert.equal(after.status, 200);
});

test('one IP holding its cap of requests is refused 429 with a reference; others are not', async () => {
  const slow = [slowPost(gateway.url, '127.0.0.6'), slowPost(gateway.url, '127.0.0.6')];
  try {
    await settle();
    const refused = await send(`${gateway.url}/_test/status/200`, '127.0.0.6');
    assert.equal(refused.status, 429);
    assert.equal(refused.headers['content-type'], 'application/problem+json');
    assert.equal(refused.headers['retry-after'], '1');
    const problem = JSON.parse(refused.body) as Record<string, unknown>;
    assert.equal(problem.rule, 'ip-concurrency');
    assert.match(String(problem.reference), /^RL-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    const other = await send(`${gateway.url}/_test/status/200`, '127.0.0.16');
    assert.equal(other.status, 200, 'another address has its own slots');
    // Refused while its body still trickles in: one answer, then the timeout closes it.
    const third = await slowPost(gateway.url, '127.0.0.6').answer;
    assert.match(third, /^HTTP\/1\.1 429 /);
    assert.equal(third.match(/HTTP\/1\.1 \d{3}/g)?.length, 1, third);
  } finally {
    for (const s of slow) s.socket.destroy();
  }
  // The clients vanished: their slots come back without waiting for the request timeout.
  const back = await send(`${gateway.url}/_test/status/200`, '127.0.0.6');
  assert.equal(back.status, 200);
});

test('callers without a key share one cap across all IPs; keyed callers are not in it', async () => {
  const ips = ['127.0.0.7', '127.0.0.8', '127.0.0.9'];
  const slow = ips.map((ip) => slowPost(gateway.url, ip));
  try {
    await settle();
    const refused = await send(`${gateway.url}/_test/status/200`, '127.0.0.10');
    assert.equal(refused.status, 429);
    const problem = JSON.parse(refused.body) as Record<string, unknown>;
    assert.equal(problem.rule, 'unauthenticated-concurrency');
    assert.match(String(problem.reference), /^RL-/);
    const keyed = await send(`${gateway.url}/_test/status/200`, '127.0.0.10', {
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(keyed.status, 200);
  } finally {
    for (const s of slow) s.socket.destroy();
  }
  const back = await eventually(async () => {
    const r = await send(`${gateway.url}/_test/status/200`, '127.0.0.10');
    return r.status === 200 ? r : undefined;
  }, 2_000);
  assert.equal(back.status, 200);
});

test('a body is read whole before the upstream sees the request', async () => {
  const hits = async () => {
    const r = await send(`${upstream.url}/_test/hits`, '127.0.0.1');
    return (JSON.parse(r.body) as { paths: Record<string, number> }).paths['/_test/upload-digest'];
  };
  const before = (await hits()) ?? 0;
  const slow = slowPost(
    gateway.url,
    '127.0.0.13',
    `authorization: Bearer ${key}\r\nconnection: close\r\n`,
  );
  await settle();
  assert.equal((await hits()) ?? 0, before, 'no upstream request while the body is arriving');
  slow.socket.write('y'.repeat(999));
  const text = await slow.answer;
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.equal(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).bytes, 1000);
  assert.equal(await hits(), before + 1);
});

test('chunked bodies below and above the buffer bound reach the upstream intact', async () => {
  for (const size of [10_000, 300_000]) {
    const chunks = Array.from({ length: 10 }, () => randomBytes(size / 10));
    const whole = Buffer.concat(chunks);
    const r = await send(`${gateway.url}/_test/upload-digest`, '127.0.0.11', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: chunks,
    });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), {
      bytes: size,
      sha256: createHash('sha256').update(whole).digest('hex'),
    });
  }
});

test('a failing upstream gives every slot back', async () => {
  const config = writePolicy(tempDir(), 'ip:\n  concurrency: 1\n');
  const down = await startGateway([
    '--upstream',
    await closedPortUrl(),
    '--data',
    tempDir(),
    '--config',
    config,
  ]);
  try {
    for (let i = 0; i < 3; i++) {
      const r = await send(`${down.url}/api/companies`, '127.0.0.12');
      assert.equal(r.status, 502, `request ${i + 1}: ${r.body}`);
    }
  } finally {
    await down.stop();
  }
});

test('an upstream that stalls inside its answer is cut off after upstreamTimeout', async () => {
  // A raw upstream: headers and half a body, then nothing (the demo upstream never stalls).
  const stalled = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': '10' });
    res.write('12345');
  });
  await new Promise<void>((r) => stalled.listen(0, '127.0.0.1', r));
  const config = writePolicy(tempDir(), 'server:\n  upstreamTimeout: 1s\n');
  const port = (stalled.address() as AddressInfo).port;
  const cut = await startGateway([
    '--upstream',
    `http://127.0.0.1:${port}`,
    '--data',
    tempDir(),
    '--config',
    config,
  ]);
  try {
    const started = performance.now();
    const outcome = await send(`${cut.url}/anything`, '127.0.0.14').then(
      (r) => `answered ${r.status} with ${r.body.length} bytes`,
      () => 'cut off',
    );
    const waited = performance.now() - started;
    assert.equal(outcome, 'cut off');
    assert.ok(waited < 5_000, `cut off after ${Math.round(waited)} ms, the timeout is 1 s`);
  } finally {
    await cut.stop();
    stalled.closeAllConnections();
    await new Promise<void>((r) => stalled.close(() => r()));
  }
});
