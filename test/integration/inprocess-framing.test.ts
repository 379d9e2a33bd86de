/**
 * The gateway's own answers to requests framed so they must not be passed on, through
 * the real gateway (in-process, manual clock, real demo upstream), byte for byte: an
 * unparsable request, a body that does not arrive in time, a second Host, a transfer
 * coding other than chunked, a method on `*` other than OPTIONS, and `OPTIONS *`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type DemoUpstream, startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { call } from '../helpers/http.ts';
import { type InProcessGateway, startInProcessGateway } from '../helpers/in-process-gateway.ts';
import { sendUntilClosed } from '../helpers/raw-http.ts';

let upstream: DemoUpstream;
let g: InProcessGateway;
before(async () => {
  upstream = await startDemoUpstream({});
  // Node checks the request timeout every 250 ms at this setting: a 408 within 1.5 s.
  g = await startInProcessGateway({
    upstream: upstream.url,
    policy: 'server:\n  requestTimeout: 1s\n',
  });
});
after(async () => {
  await g?.close();
  await upstream?.close();
});

const hits = async () => (await call(`${upstream.url}/_test/hits`)).json<{ total: number }>().total;

/** Sends `bytes` on a fresh connection; everything received until the gateway closes it. */
async function exchange(bytes: string, timeoutMs = 5_000): Promise<string> {
  return (await sendUntilClosed(g.url, Buffer.from(bytes), timeoutMs)).toString('utf8');
}

/** The whole answer sluice writes itself to a socket it closes (no Date: not node's writer). */
function rawProblem(statusLine: string, body: object): string {
  const text = JSON.stringify(body);
  return `HTTP/1.1 ${statusLine}\r\ncontent-type: application/problem+json\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`;
}

/** An answer written by node:http: its status line, headers (no Date) and body. */
function parsed(answer: string) {
  const [head, body] = answer.split('\r\n\r\n', 2);
  const [statusLine, ...lines] = head.split('\r\n');
  return {
    statusLine,
    headers: lines.filter((l) => !l.toLowerCase().startsWith('date:')),
    body,
  };
}

test('an unparsable request: 400 bad-request, written whole, and the connection closed', async () => {
  const before = await hits();
  assert.equal(
    await exchange('GET /api/things HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'),
    rawProblem('400 Bad Request', {
      type: 'tag:sluice,2026:problem:bad-request',
      title: 'Bad Request',
      status: 400,
      detail: 'The request could not be parsed as HTTP/1.1.',
    }),
  );
  assert.equal(await hits(), before);
});

test('a body that does not arrive within requestTimeout: 408 request-timeout, and closed', async () => {
  const before = await hits();
  const answer = await exchange(
    'POST /_test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf',
  );
  assert.equal(
    answer,
    rawProblem('408 Request Timeout', {
      type: 'tag:sluice,2026:problem:request-timeout',
      title: 'Request Timeout',
      status: 408,
      detail: 'The request and its body did not arrive within 1s. Send the whole request at once.',
    }),
  );
  assert.equal(await hits(), before);
});

test('badly framed requests: each its own problem, then the connection is closed', async () => {
  const cases: [string, string, string, string][] = [
    [
      'GET /api/things HTTP/1.1\r\nHost: a.example\r\nHOST: b.example\r\n\r\n',
      '400 Bad Request',
      'bad-request',
      'The request has more than one Host header (RFC 9112 §3.2).',
    ],
    [
      'POST /_test/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
      '501 Not Implemented',
      'unsupported-transfer-coding',
      'Transfer-Encoding "gzip, chunked" is not supported: send the body with chunked alone.',
    ],
    [
      'DELETE * HTTP/1.1\r\nHost: x\r\n\r\n',
      '400 Bad Request',
      'bad-request',
      '"DELETE *" is not a request: only OPTIONS may ask about "*".',
    ],
  ];
  const before = await hits();
  for (const [request, statusLine, name, detail] of cases) {
    const answer = parsed(await exchange(request));
    const status = Number(statusLine.split(' ')[0]);
    const body = JSON.stringify({
      type: `tag:sluice,2026:problem:${name}`,
      title: statusLine.slice(4),
      status,
      detail,
    });
    assert.deepEqual(answer, {
      statusLine: `HTTP/1.1 ${statusLine}`,
      headers: [
        'content-type: application/problem+json',
        'connection: close',
        `content-length: ${Buffer.byteLength(body)}`,
      ],
      body,
    });
  }
  assert.equal(await hits(), before);
});

test('a long transfer coding is named in the answer cut to 60 characters', async () => {
  const coding = `${'x'.repeat(70)}, chunked`;
  const answer = parsed(
    await exchange(
      `POST /_test/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ${coding}\r\n\r\n0\r\n\r\n`,
    ),
  );
  assert.equal(
    JSON.parse(answer.body).detail,
    `Transfer-Encoding "${'x'.repeat(60)}" is not supported: send the body with chunked alone.`,
  );
});

test('chunked in any case and spacing is chunked; OPTIONS * is answered 204 by sluice', async () => {
  const before = await hits();
  const chunked = parsed(
    await exchange(
      'POST /_test/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:  Chunked \r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    ),
  );
  assert.equal(chunked.statusLine, 'HTTP/1.1 200 OK');
  assert.equal(await hits(), before + 1);
  const options = parsed(
    await exchange('OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
  );
  assert.equal(options.statusLine, 'HTTP/1.1 204 No Content');
  assert.deepEqual(
    options.headers.filter((h) => !/^(connection|keep-alive):/i.test(h)),
    ['content-length: 0'],
  );
  assert.equal(options.body, '');
  assert.equal(await hits(), before + 1);
});

test('a request answered before its body arrived gets no second answer when its time runs out', async () => {
  const { key } = g.addKey('revoked-account', { status: 'revoked' });
  const answer = await exchange(
    `POST /_test/echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Length: 10\r\n\r\nhalf`,
  );
  assert.equal(answer.match(/HTTP\/1\.1 \d{3}/g)?.join(), 'HTTP/1.1 403', answer);
  assert.equal(JSON.parse(parsed(answer).body).rule, 'key-revoked');
});

test('only Host counts as Host: other four-letter headers beside it pass', async () => {
  const before = await hits();
  const answer = parsed(
    await exchange(
      'GET /_test/status/200 HTTP/1.1\r\nHost: x\r\nFrom: ops@example.com\r\nLink: </a>; rel=next\r\nConnection: close\r\n\r\n',
    ),
  );
  assert.equal(answer.statusLine, 'HTTP/1.1 200 OK');
  assert.equal(await hits(), before + 1);
});
