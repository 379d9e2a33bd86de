/**
 * The problem+json writer every refusal and gateway error goes through: the title of
 * each status, the fallbacks, the 500 of a failed request, and what `sendProblem` and
 * `replyProblem` put on the wire (a real node:http server and a real Fastify instance).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import Fastify from 'fastify';
import {
  denialDetail,
  denialProblem,
  internalProblem,
  keyRefusalDetail,
  PROBLEM_CONTENT_TYPE,
  type Problem,
  plainProblem,
  problemType,
  replyProblem,
  sendDenial,
  sendProblem,
} from '../../src/gateway/problem.ts';
import { rawRequest } from '../helpers/raw-http.ts';

test('each status the gateway answers has its HTTP reason phrase as the title', () => {
  const titles: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    405: 'Method Not Allowed',
    408: 'Request Timeout',
    413: 'Content Too Large',
    415: 'Unsupported Media Type',
    429: 'Too Many Requests',
    500: 'Internal Server Error',
    501: 'Not Implemented',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
    504: 'Gateway Timeout',
  };
  for (const [status, title] of Object.entries(titles)) {
    assert.equal(plainProblem('x', Number(status), 'd').title, title, `status ${status}`);
    assert.equal(denialProblem('x', Number(status), 'R', 0).title, title, `status ${status}`);
  }
});

test('a status with no reason phrase of its own falls back to Refused or Error', () => {
  assert.equal(denialProblem('odd-rule', 418, 'SLC-1', 3).title, 'Refused');
  assert.equal(plainProblem('odd', 418, 'd').title, 'Error');
});

test('a denial carries the rule, reference, retryAfter and the promised sentence', () => {
  assert.deepEqual(denialProblem('ip-block', 429, 'SLC-ABC', 7), {
    type: 'tag:sluice,2026:problem:ip-block',
    title: 'Too Many Requests',
    status: 429,
    detail: denialDetail('SLC-ABC'),
    reference: 'SLC-ABC',
    retryAfter: 7,
    rule: 'ip-block',
  });
  assert.equal(
    denialDetail('SLC-ABC'),
    'Your request was denied due to a usage violation. You can track this request with support by referencing SLC-ABC.',
  );
});

test('a request sluice failed on is a plain 500 problem', () => {
  assert.deepEqual(internalProblem(), {
    type: problemType('internal'),
    title: 'Internal Server Error',
    status: 500,
    detail: 'sluice failed to handle this request.',
  });
});

test('sendProblem writes the status, the content type, the headers given and the length', async (t) => {
  const problem = plainProblem('bad-path', 400, 'naïve target'); // multi-byte: length in bytes
  const server = createServer((_req, res) => {
    sendProblem(res, problem, { 'cache-control': 'no-store', 'retry-after': '5' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  const answer = await fetch(`http://127.0.0.1:${port}/`);
  const body = await answer.text();
  assert.equal(answer.status, 400);
  assert.equal(answer.headers.get('content-type'), PROBLEM_CONTENT_TYPE);
  assert.equal(answer.headers.get('cache-control'), 'no-store');
  assert.equal(answer.headers.get('retry-after'), '5');
  assert.equal(answer.headers.get('content-length'), String(Buffer.byteLength(body)));
  assert.deepEqual(JSON.parse(body) as Problem, problem);
});

test('replyProblem answers on a Fastify reply with the status, content type and headers', async (t) => {
  const app = Fastify();
  t.after(() => app.close());
  const problem = plainProblem('unknown-key', 404, 'No key "k".');
  app.get('/', (_req, reply) => replyProblem(reply, problem, { 'cache-control': 'no-store' }));
  const answer = await app.inject({ method: 'GET', url: '/' });
  assert.equal(answer.statusCode, 404);
  // Fastify appends the charset to the type it is given.
  assert.equal(answer.headers['content-type'], `${PROBLEM_CONTENT_TYPE}; charset=utf-8`);
  assert.equal(answer.headers['cache-control'], 'no-store');
  assert.deepEqual(answer.json(), problem);
});

test('sendDenial answers byte for byte as sendProblem with denialProblem, repeated or with a new Retry-After', async (t) => {
  const cases: [string, number, number, Record<string, string>][] = [
    [
      'ip-rate',
      429,
      3,
      { 'cache-control': 'no-store', 'retry-after': '3', ratelimit: '"ip";r=0;t=3' },
    ],
    [
      'ip-rate',
      429,
      3,
      { 'cache-control': 'no-store', 'retry-after': '3', ratelimit: '"ip";r=0;t=3' },
    ],
    ['ip-rate', 429, 2, { 'cache-control': 'no-store', 'retry-after': '2' }],
    ['key-revoked', 403, 0, { 'cache-control': 'no-store' }],
  ];
  const server = createServer((req, res) => {
    const [rule, status, retryAfter, headers] = cases[Number(req.url?.slice(2))];
    if (req.url?.startsWith('/p')) {
      sendProblem(res, denialProblem(rule, status, 'RL-7KQ4-M9XT', retryAfter), headers);
    } else sendDenial(res, rule, status, 'RL-7KQ4-M9XT', retryAfter, headers);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  const noDate = (head: string) => head.replace(/\r\nDate: [^\r]*/, '');
  for (let i = 0; i < cases.length; i++) {
    const close = { connection: 'close' };
    const want = await rawRequest(origin, 'GET', `/p${i}`, close);
    const got = await rawRequest(origin, 'GET', `/d${i}`, close);
    assert.equal(noDate(got.head), noDate(want.head), `case ${i}`);
    assert.equal(got.body, want.body, `case ${i}`);
  }
});

test('a missing key is told where to send it: the policy’s credential sources, the default wording for the default ones', () => {
  const tail = 'You can track this request with support by referencing RL-1.';
  assert.equal(
    keyRefusalDetail('key-missing', 'RL-1'),
    `Your request carries no API key: send it as Authorization: Bearer <key> (or X-API-Key: <key>). ${tail}`,
  );
  assert.equal(
    keyRefusalDetail('key-missing', 'RL-1', [
      { kind: 'authorization', scheme: 'Bearer' },
      { kind: 'header', name: 'x-api-key', label: 'X-API-Key' },
    ]),
    keyRefusalDetail('key-missing', 'RL-1'),
  );
  assert.equal(
    keyRefusalDetail('key-missing', 'RL-1', [
      { kind: 'header', name: 'x-partner-key', label: 'X-Partner-Key' },
    ]),
    `Your request carries no API key: send it as X-Partner-Key: <key>. ${tail}`,
  );
  assert.equal(
    keyRefusalDetail('key-missing', 'RL-1', [
      { kind: 'query', name: 'api_key' },
      { kind: 'authorization', scheme: 'Token' },
      { kind: 'header', name: 'x-key' },
    ]),
    `Your request carries no API key: send it as ?api_key=<key> in the URL (or Authorization: Token <key>, or x-key: <key>). ${tail}`,
  );
  // An unknown key is not told where to send it: it was sent.
  assert.match(
    keyRefusalDetail('key-unknown', 'RL-1', [{ kind: 'query', name: 'k' }]),
    /^The API key of your request is not known here/,
  );
});

test('sendDenial never answers with the body of another refusal that had the same reference', async (t) => {
  const creds = [{ kind: 'header' as const, name: 'x-key', label: 'X-Key' }];
  const cases: [string, number, number, typeof creds | undefined][] = [
    ['ip-rate', 429, 3, undefined],
    ['ip-block', 429, 3, undefined],
    ['ip-block', 403, 3, undefined],
    ['key-missing', 401, 0, undefined],
    ['key-missing', 401, 0, creds],
    ['key-missing', 401, 0, undefined],
  ];
  const server = createServer((req, res) => {
    const [rule, status, retryAfter, credentials] = cases[Number(req.url?.slice(2))];
    if (req.url?.startsWith('/p')) {
      sendProblem(res, denialProblem(rule, status, 'RL-SAME-REF1', retryAfter, credentials), {});
    } else sendDenial(res, rule, status, 'RL-SAME-REF1', retryAfter, {}, credentials);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  for (let i = 0; i < cases.length; i++) {
    const close = { connection: 'close' };
    const want = await rawRequest(origin, 'GET', `/p${i}`, close);
    const got = await rawRequest(origin, 'GET', `/d${i}`, close);
    assert.equal(got.body, want.body, `case ${i}`);
    assert.equal(got.head.split('\r\n')[0], want.head.split('\r\n')[0], `case ${i}`);
  }
});
