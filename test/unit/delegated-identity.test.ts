/**
 * The delegated-identity cache against a small real endpoint (node:http on loopback),
 * on a manual clock: an answer is kept for its TTL (no call while it is fresh), unknown
 * credentials for the negative TTL, each cache bounded by maxEntries, concurrent
 * lookups of one credential share one call, a held endpoint fails at the timeout, and
 * the outage is logged once.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { hashApiKey } from '../../src/core/api-key.ts';
import { manualClock } from '../../src/core/clock.ts';
import type { DelegatePolicy } from '../../src/core/policy/types.ts';
import {
  createDelegatedIdentity,
  type DelegateAnswer,
  MAX_PENDING,
} from '../../src/gateway/delegated-identity.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import { closedPortUrl } from '../helpers/http.ts';
import { startIdentityEndpoint } from '../helpers/identity-endpoint.ts';

const T0 = Date.UTC(2026, 0, 5, 12);
const endpoint = await startIdentityEndpoint({
  'partner-1': { account: 'acme', size: 12, plan: 'enterprise' },
  'partner-2': { account: 'globex' },
});
after(() => endpoint.close());

function delegate(over: Partial<DelegatePolicy> = {}) {
  const clock = manualClock(T0);
  const log: string[] = [];
  const registry = new Registry();
  const lookups = new Counter({
    name: 'lookups',
    help: 'h',
    labelNames: ['result'],
    registers: [registry],
  });
  const d = createDelegatedIdentity({
    policy: {
      url: endpoint.url,
      timeoutMs: 2_000,
      ttlMs: 300_000,
      negativeTtlMs: 60_000,
      maxEntries: 100,
      onFailure: 'refuse',
      ...over,
    },
    clock,
    logger: createLogger({ destination: { write: (line: string) => void log.push(line) } }),
    lookups,
  });
  /** The cached answer, else a lookup: what the gateway does per request. */
  const ask = async (credential: string) =>
    d.cached(hashApiKey(credential)) ?? (await d.lookup(credential, hashApiKey(credential)));
  const count = async (result: string) =>
    (await registry.getSingleMetric('lookups')?.get())?.values.find(
      (v) => v.labels.result === result,
    )?.value ?? 0;
  return { d, clock, ask, log, count };
}

test('an account answer is kept for its TTL: cached hits make no call', async () => {
  const { clock, ask, count } = delegate();
  const before = endpoint.calls;
  assert.deepEqual(await ask('partner-1'), {
    kind: 'account',
    account: { id: 'acme', size: 12, plan: 'enterprise' },
  });
  assert.deepEqual(await ask('partner-2'), {
    kind: 'account',
    account: { id: 'globex', size: 1, plan: '' },
  });
  for (let i = 0; i < 50; i++) assert.equal((await ask('partner-1')).kind, 'account');
  assert.equal(endpoint.calls - before, 2, 'one call per credential');
  assert.equal(await count('hit'), 50);
  clock.advance(299_999);
  await ask('partner-1');
  assert.equal(endpoint.calls - before, 2, 'still fresh');
  clock.advance(1);
  await ask('partner-1');
  assert.equal(endpoint.calls - before, 3, 'asked again once the TTL is over');
});

test('unknown credentials: a flood of one asks once per negative TTL; maxEntries bounds the cache', async () => {
  const { clock, ask } = delegate({ maxEntries: 3 });
  const before = endpoint.calls;
  for (let i = 0; i < 100; i++) assert.equal((await ask('made-up')).kind, 'unknown');
  assert.equal(endpoint.calls - before, 1);
  clock.advance(60_000);
  await ask('made-up');
  assert.equal(endpoint.calls - before, 2, 'asked again after the negative TTL');
  // Three more made-up keys fill the cache of 3: the first is forgotten, the rest kept.
  for (const k of ['x1', 'x2', 'x3']) await ask(k);
  assert.equal(endpoint.calls - before, 5);
  for (const k of ['x1', 'x2', 'x3']) await ask(k);
  assert.equal(endpoint.calls - before, 5, 'the newest three are cached');
  await ask('made-up');
  assert.equal(endpoint.calls - before, 6, 'the oldest was forgotten: the cache holds maxEntries');
});

test('concurrent lookups of one credential share one call', async () => {
  const { d } = delegate();
  const before = endpoint.calls;
  endpoint.mode = 'hold';
  try {
    const hash = hashApiKey('partner-2');
    const answers = Array.from({ length: 20 }, () => d.lookup('partner-2', hash));
    // Bounded wait on what is observable: the one call reaching the endpoint.
    for (let i = 0; i < 400 && endpoint.calls === before; i++)
      await new Promise((r) => setTimeout(r, 5));
    endpoint.release();
    const got = await Promise.all(answers);
    assert.ok(got.every((a) => a.kind === 'account'));
    assert.equal(endpoint.calls - before, 1);
  } finally {
    endpoint.mode = 'answer';
  }
});

test('a held endpoint fails at the timeout; 500s fail; the outage is logged once and its end once', async () => {
  const { ask, log, count, clock } = delegate({ timeoutMs: 150 });
  endpoint.mode = 'hold';
  try {
    const started = performance.now();
    assert.equal((await ask('partner-1')).kind, 'failed');
    const waited = performance.now() - started;
    assert.ok(waited >= 140 && waited < 2_000, `waited ${waited} ms, the timeout is 150`);
    endpoint.mode = 'fail';
    assert.equal((await ask('partner-2')).kind, 'failed');
    // A failure is kept briefly: the endpoint is not asked per request while it is down.
    const calls = endpoint.calls;
    assert.equal((await ask('partner-2')).kind, 'failed');
    assert.equal(endpoint.calls, calls);
    assert.equal(await count('failed'), 2);
    const failures = log.filter((l) => l.includes('"delegate-failure"'));
    assert.equal(failures.length, 1, 'one log line per outage');
    assert.match(failures[0], /no answer within 150 ms/);
    endpoint.mode = 'answer';
    clock.advance(5_000);
    assert.equal((await ask('partner-2')).kind, 'account');
    assert.equal(log.filter((l) => l.includes('"delegate-recovered"')).length, 1);
    assert.ok(!log.join('').includes('partner-'), 'credentials are never logged');
  } finally {
    endpoint.mode = 'answer';
    endpoint.release();
  }
});

/**
 * A second real endpoint whose answer each test scripts (status, raw body), recording
 * the headers of each request: for the answers the helper endpoint never gives.
 */
/** `open`: the body is sent but never ended (until the client goes away). */
type Script = (credential: string) => { status: number; body?: string; open?: boolean };
const scripted = await (async () => {
  let script: Script = () => ({ status: 404 });
  const seen: { credential: string; headers: IncomingHttpHeaders }[] = [];
  let dropped = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const credential = String(JSON.parse(body).credential);
      seen.push({ credential, headers: req.headers });
      const answer = script(credential);
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      if (!answer.open) return void res.end(answer.body);
      res.write(answer.body);
      res.on('close', () => dropped++);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/identity`,
    seen,
    /** Open answers the client stopped reading (its connection closed). */
    get dropped() {
      return dropped;
    },
    answer(next: Script) {
      script = next;
    },
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
})();
after(() => scripted.close());

/** The log lines of one event, parsed. */
const events = (log: string[], event: string) =>
  log.map((l) => JSON.parse(l)).filter((l: { event?: string }) => l.event === event);

test('the endpoint is asked with a JSON body and JSON accepted', async () => {
  const { ask } = delegate({ url: scripted.url });
  scripted.answer(() => ({ status: 200, body: '{"account":"acme"}' }));
  const from = scripted.seen.length;
  assert.equal((await ask('headers-1')).kind, 'account');
  const [{ credential, headers }] = scripted.seen.slice(from);
  assert.equal(credential, 'headers-1');
  assert.equal(headers['content-type'], 'application/json');
  assert.equal(headers.accept, 'application/json');
});

test('401 and 403 are "no such key", like 404: kept for the negative TTL, no outage', async () => {
  const { ask, log, count } = delegate({ url: scripted.url });
  for (const status of [401, 403, 404]) {
    scripted.answer(() => ({ status, body: '{"error":"no"}' }));
    assert.deepEqual(await ask(`no-such-${status}`), { kind: 'unknown' }, `${status}`);
  }
  assert.equal(await count('unknown'), 3);
  assert.equal(events(log, 'delegate-failure').length, 0);
});

test('any other status is a failure, whatever its body; the log says which status', async () => {
  for (const [status, body] of [
    [500, '{"account":"acme"}'],
    [201, '{"account":"acme"}'],
    [204, undefined],
  ] as const) {
    const { ask, log } = delegate({ url: scripted.url });
    scripted.answer(() => ({ status, body }));
    assert.deepEqual(await ask(`status-${status}`), { kind: 'failed' }, `${status}`);
    const [failure] = events(log, 'delegate-failure');
    assert.equal(failure.error, `answered ${status}`);
  }
});

test('an unknown answer is kept the whole negative TTL, a failure 5 s at most', async () => {
  const { ask, clock } = delegate({ url: scripted.url });
  scripted.answer((c) => (c === 'down-key' ? { status: 500 } : { status: 404 }));
  const from = scripted.seen.length;
  assert.equal((await ask('gone-key')).kind, 'unknown');
  assert.equal((await ask('down-key')).kind, 'failed');
  clock.advance(5_000);
  assert.equal((await ask('gone-key')).kind, 'unknown');
  assert.equal((await ask('down-key')).kind, 'failed');
  assert.deepEqual(
    scripted.seen.slice(from).map((s) => s.credential),
    ['gone-key', 'down-key', 'down-key'],
    'the unknown answer cached past the failure TTL, the failure asked again',
  );
});

test('a 200 answer is an account only when its body is one', async () => {
  const pad = (body: object, length: number) => {
    const text = JSON.stringify({ ...body, pad: '' });
    return `${text.slice(0, -2)}${'x'.repeat(length - text.length)}"}`;
  };
  const cases: [string, DelegateAnswer][] = [
    [
      pad({ account: 'big' }, 16 * 1024),
      { kind: 'account', account: { id: 'big', size: 1, plan: '' } },
    ],
    [pad({ account: 'big' }, 16 * 1024 + 1), { kind: 'failed' }],
    [
      JSON.stringify({ account: 'a'.repeat(128) }),
      { kind: 'account', account: { id: 'a'.repeat(128), size: 1, plan: '' } },
    ],
    [JSON.stringify({ account: 'a'.repeat(129) }), { kind: 'failed' }],
    [
      '{"account":"x.y:z@w-1_2"}',
      { kind: 'account', account: { id: 'x.y:z@w-1_2', size: 1, plan: '' } },
    ],
    ['{"account":"acme!"}', { kind: 'failed' }],
    ['{"account":"!acme"}', { kind: 'failed' }],
    ['{"account":"ac me"}', { kind: 'failed' }],
    ['{"account":""}', { kind: 'failed' }],
    ['{"account":42}', { kind: 'failed' }],
    ['{"account":null}', { kind: 'failed' }],
    [
      '{"account":"acme","size":0}',
      { kind: 'account', account: { id: 'acme', size: 0, plan: '' } },
    ],
    ['{"account":"acme","size":-1}', { kind: 'failed' }],
    ['{"account":"acme","size":1.5}', { kind: 'failed' }],
    ['{"account":"acme","size":"3"}', { kind: 'failed' }],
    ['{"account":"acme","size":1e300}', { kind: 'failed' }],
    [
      '{"account":"acme","plan":"gold"}',
      { kind: 'account', account: { id: 'acme', size: 1, plan: 'gold' } },
    ],
    ['{"account":"acme","plan":42}', { kind: 'failed' }],
    ['null', { kind: 'failed' }],
    ['"acme"', { kind: 'failed' }],
    ['["acme"]', { kind: 'failed' }],
    ['not json', { kind: 'failed' }],
    ['', { kind: 'failed' }],
  ];
  for (const [i, [body, expected]] of cases.entries()) {
    const { ask, log } = delegate({ url: scripted.url });
    scripted.answer(() => ({ status: 200, body }));
    assert.deepEqual(await ask(`body-${i}`), expected, body.slice(0, 60));
    if (expected.kind === 'failed') {
      const [failure] = events(log, 'delegate-failure');
      assert.equal(
        failure.error,
        body.length > 16 * 1024
          ? 'answered a body too long to be an account'
          : 'answered 200 without an account ({"account": "…"})',
        body.slice(0, 60),
      );
    }
  }
});

test('a body past 16 KiB fails as soon as that much is read: the rest is not waited for', async () => {
  const { ask, log } = delegate({ url: scripted.url, timeoutMs: 3_000 });
  // An account in front, then padding, and the answer left open: only a reader that
  // stops at the bound answers before the timeout, and says why.
  scripted.answer(() => ({
    status: 200,
    body: `{"account":"acme","pad":"${'x'.repeat(20 * 1024)}`,
    open: true,
  }));
  const dropped = scripted.dropped;
  assert.equal((await ask('endless-body')).kind, 'failed');
  const [failure] = events(log, 'delegate-failure');
  assert.equal(failure.error, 'answered a body too long to be an account');
  // Bounded wait on what is observable: the endpoint sees the connection dropped.
  for (let i = 0; i < 400 && scripted.dropped === dropped; i++)
    await new Promise((r) => setTimeout(r, 5));
  assert.equal(scripted.dropped, dropped + 1, 'the rest of the body is not read');
});

test('the bound is on bytes: 16 KiB of UTF-8 is read, one byte more is too long', async () => {
  // "é" is one UTF-16 unit but two bytes: a body of 16 KiB bytes holds fewer characters.
  const body = (bytes: number) => {
    const head = '{"account":"acme","pad":"';
    const tail = '"}';
    const room = bytes - head.length - tail.length;
    return `${head}${'é'.repeat(Math.floor(room / 2))}${'x'.repeat(room % 2)}${tail}`;
  };
  for (const [bytes, kind] of [
    [16 * 1024, 'account'],
    [16 * 1024 + 1, 'failed'],
  ] as const) {
    const { ask } = delegate({ url: scripted.url });
    assert.equal(Buffer.byteLength(body(bytes)), bytes);
    scripted.answer(() => ({ status: 200, body: body(bytes) }));
    assert.equal((await ask(`utf8-${bytes}`)).kind, kind, `${bytes} bytes`);
  }
});

test('an endpoint that cannot be reached: the log gives the cause, not a timeout', async () => {
  const { ask, log } = delegate({ url: `${await closedPortUrl()}/identity` });
  assert.equal((await ask('partner-1')).kind, 'failed');
  const [failure] = events(log, 'delegate-failure');
  assert.match(failure.error, /^connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
});

test('the outage log says what requests get, as onFailure says; each outage is logged once, each recovery once', async () => {
  for (const [onFailure, get] of [
    ['refuse', 'refused (503)'],
    ['anonymous', 'served as anonymous'],
  ] as const) {
    const { ask, log, clock } = delegate({ url: scripted.url, onFailure });
    scripted.answer(() => ({ status: 502 }));
    assert.equal((await ask('outage-1')).kind, 'failed');
    assert.equal((await ask('outage-2')).kind, 'failed');
    const failures = events(log, 'delegate-failure');
    assert.equal(failures.length, 1);
    assert.deepEqual(failures[0], {
      level: 40,
      time: failures[0].time,
      name: 'sluice',
      event: 'delegate-failure',
      url: scripted.url,
      error: 'answered 502',
      onFailure,
      msg: `identity delegate failed: answered 502; requests with keys it should know are ${get} until it answers`,
    });
    scripted.answer(() => ({ status: 404 }));
    clock.advance(5_000);
    assert.equal((await ask('outage-1')).kind, 'unknown');
    assert.equal((await ask('outage-3')).kind, 'unknown');
    const recovered = events(log, 'delegate-recovered');
    assert.equal(recovered.length, 1, 'the end of the outage, once');
    assert.equal(recovered[0].msg, 'identity delegate answers again');
    scripted.answer(() => ({ status: 502 }));
    assert.equal((await ask('outage-4')).kind, 'failed');
    assert.equal(events(log, 'delegate-failure').length, 2, 'a second outage is logged again');
  }
});

test('a stale answer read is forgotten: it no longer takes a place in its cache', async () => {
  // maxEntries 2: "gone-a" (unknown, 60 s) then "down-b" (failed, 5 s). Once "down-b" is
  // stale and read, it is gone; "gone-c" then fits beside "gone-a" without pushing it out.
  const { d, ask, clock } = delegate({ url: scripted.url, maxEntries: 2 });
  scripted.answer((c) => (c === 'down-b' ? { status: 500 } : { status: 404 }));
  await ask('gone-a');
  await ask('down-b');
  clock.advance(5_000);
  assert.equal(d.cached(hashApiKey('down-b')), undefined);
  await ask('gone-c');
  const from = scripted.seen.length;
  assert.equal((await ask('gone-a')).kind, 'unknown');
  assert.equal(scripted.seen.length, from, '"gone-a" still cached');
});

test('a lookup of a credential already kept replaces its answer: nothing else is forgotten', async () => {
  const { d, ask } = delegate({ url: scripted.url, maxEntries: 2 });
  scripted.answer(() => ({ status: 404 }));
  await ask('kept-a');
  await ask('kept-b');
  // Asked again without reading the cache first (lookup asks whatever is kept).
  assert.equal((await d.lookup('kept-b', hashApiKey('kept-b'))).kind, 'unknown');
  const from = scripted.seen.length;
  await ask('kept-a');
  await ask('kept-b');
  assert.equal(scripted.seen.length, from, 'both still cached');
});

test('at most MAX_PENDING lookups out at once: the next fails at once, counted as overflow', async () => {
  const { d, count } = delegate({ timeoutMs: 30_000 });
  const before = endpoint.calls;
  endpoint.mode = 'hold';
  try {
    const out = Array.from({ length: MAX_PENDING }, (_, i) =>
      d.lookup(`flood-${i}`, hashApiKey(`flood-${i}`)),
    );
    // Bounded wait on what is observable: every call reaching the endpoint.
    for (let i = 0; i < 1_000 && endpoint.calls - before < MAX_PENDING; i++)
      await new Promise((r) => setTimeout(r, 5));
    assert.equal(endpoint.calls - before, MAX_PENDING);
    const late = d.lookup('flood-late', hashApiKey('flood-late'));
    assert.equal(await count('overflow'), 1, 'counted at once');
    assert.deepEqual(await late, { kind: 'failed' });
    endpoint.mode = 'answer';
    endpoint.release();
    assert.ok((await Promise.all(out)).every((a) => a.kind === 'unknown'));
    assert.equal(endpoint.calls - before, MAX_PENDING, 'the one past the bound never asked');
    // Once they are settled, a lookup is asked again.
    assert.equal((await d.lookup('flood-late', hashApiKey('flood-late'))).kind, 'unknown');
    assert.equal(await count('overflow'), 1);
  } finally {
    endpoint.mode = 'answer';
    endpoint.release();
  }
});
