/**
 * The wire contract of refusals, pinned: every refusal kind in docs/answers.md's rule
 * table is produced by the real gateway (in-process, manual clock, real upstream) and
 * its status line, headers and problem+json body are compared exactly; the page's
 * ```http examples are compared byte for byte (header names aside, which HTTP compares
 * without case), all but the reference code, which is random.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { RULES } from '../../src/core/decision.ts';
import { ROOT } from '../helpers/gateway-process.ts';
import { bearer } from '../helpers/http.ts';
import { type InProcessGateway, inProcessSuite, T0, until } from '../helpers/in-process-gateway.ts';
import { type RawAnswer, rawRequest } from '../helpers/raw-http.ts';

const ANSWERS = readFileSync(join(ROOT, 'docs', 'answers.md'), 'utf8');
const REFERENCE = /^RL-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/;
/** Headers of the connection, not of the answer: never part of the contract. */
const TRANSPORT = new Set(['date', 'connection', 'keep-alive', 'content-length']);
const TITLES: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  429: 'Too Many Requests',
};

/** Status of each rule in the page's table (`| 429 | \`ip-block\` | … |`). */
function documentedStatuses(): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of ANSWERS.matchAll(/^\| (\d{3}) \| ([^|]+) \|/gm)) {
    for (const r of m[2].matchAll(/`([a-z0-9-]+)`/g)) out.set(r[1], Number(m[1]));
  }
  return out;
}

/** The page's ```http examples: status line, header lines, body. */
function documentedExamples(): { statusLine: string; headers: string[]; body: string }[] {
  return [...ANSWERS.matchAll(/```http\n([\s\S]*?)```/g)].map((m) => {
    const [head, body] = m[1].split(/\n\n/, 2);
    const [statusLine, ...headers] = head.split('\n');
    return { statusLine, headers, body: body ?? '' };
  });
}

/** The brief's sentence, exactly, for every usage refusal (the 429s and the usage 403s). */
const USAGE_VIOLATION = 'Your request was denied due to a usage violation.';
/** A missing or unknown key is no usage violation: its own words, and how to send a key. */
const DETAIL_START: Record<string, string> = {
  'key-missing':
    'Your request carries no API key: send it as Authorization: Bearer <key> (or X-API-Key: <key>).',
  'key-unknown':
    'The API key of your request is not known here: check that it was copied whole and is the current one.',
};

const suite = inProcessSuite();

function start(policy = '', startAt = T0): Promise<InProcessGateway> {
  return suite.start(policy, { startAt });
}

const upstreamHits = suite.hits;

/** A path no route matches, answered 200 by the upstream. */
const OK = '/_test/status/200';

/** Holds one request in the upstream until `release` (a slow answer the client gives up on). */
async function holdUpstream(g: InProcessGateway, key?: string) {
  const path = '/_test/slow';
  const before = await upstreamHits(path);
  const holder = new AbortController();
  const held = g.call(`${path}?ms=60000`, { key, signal: holder.signal }).catch(() => undefined);
  await until(async () => (await upstreamHits(path)) > before, 'the slow request is upstream');
  return async () => {
    holder.abort();
    await held;
  };
}

interface Case {
  rule: string;
  policy?: string;
  start?: number;
  /** Brings the gateway to where the probe is refused; the key to probe with, and what to undo. */
  setup(
    g: InProcessGateway,
  ): Promise<{ key?: string; headers?: Record<string, string>; undo?: () => Promise<void> }>;
  method?: string;
  path?: string;
  status: number;
  retryAfter: number;
  /** Headers beyond content-type, cache-control and retry-after, exactly. */
  headers?: Record<string, string>;
}

const ONE_PER_10S =
  'plans:\n  standard: { base: 6/min, perUnit: 0/min, min: 6/min, max: 6/min, burst: 2, maxDelay: 0s }\n';
const ONE_PER_S_SLOWED = (extra: string) =>
  `plans:\n  standard: { base: 60/min, perUnit: 0/min, min: 60/min, max: 60/min, burst: 1, maxDelay: 10s${extra} }\n`;

const CASES: Case[] = [
  {
    rule: 'ip-block',
    policy: 'ip:\n  warn: 1/min\n  block: 2/min\n',
    async setup(g) {
      for (let i = 0; i < 2; i++) assert.equal((await g.call(OK)).status, 200);
      return {};
    },
    status: 429,
    // curr 2 at T0: one more fits when half of it has slid out, at T0 + 120 s − 30 s.
    retryAfter: 90,
    headers: {
      'ratelimit-policy': '"ip";q=2;w=60',
      ratelimit: '"ip";r=0;t=60',
      'sluice-warning': '"ip";count=3;limit=1',
    },
  },
  {
    rule: 'account-rate',
    policy: ONE_PER_10S,
    async setup(g) {
      const { key } = g.addKey('acme');
      for (let i = 0; i < 2; i++) assert.equal((await g.call(OK, { key })).status, 200);
      return { key };
    },
    status: 429,
    retryAfter: 10,
    headers: {
      'ratelimit-policy': '"ip";q=200;w=60, "account";q=6;w=60',
      ratelimit: '"ip";r=197;t=60, "account";r=0;t=20',
    },
  },
  {
    rule: 'account-slowed',
    policy: ONE_PER_S_SLOWED(', maxSlowed: 1'),
    async setup(g) {
      const { key } = g.addKey('acme');
      assert.equal((await g.call(OK, { key })).status, 200);
      const held = g.call(OK, { key });
      await until(() => g.clock.pending() === 1, 'the second request is slowed');
      return {
        key,
        async undo() {
          g.clock.advance(1_000);
          assert.equal((await held).headers['sluice-delay-ms'], '1000');
        },
      };
    },
    status: 429,
    retryAfter: 2,
    headers: {
      'ratelimit-policy': '"ip";q=200;w=60, "account";q=60;w=60',
      ratelimit: '"ip";r=197;t=60, "account";r=0;t=2',
    },
  },
  {
    rule: 'account-queue',
    policy: 'plans:\n  standard: { concurrency: 1, queue: 1 }\n',
    async setup(g) {
      const { key } = g.addKey('acme');
      const release = await holdUpstream(g, key);
      const queued = g.call(OK, { key });
      await until(() => g.clock.pending() === 1, 'the second request is queued');
      return {
        key,
        async undo() {
          await release();
          assert.equal((await queued).status, 200, 'the queued request runs when the slot frees');
        },
      };
    },
    status: 429,
    retryAfter: 1,
  },
  {
    rule: 'account-queue-timeout',
    policy: 'plans:\n  standard: { concurrency: 1, queue: 1, queueTimeout: 7s }\n',
    async setup(g) {
      const { key } = g.addKey('acme');
      const release = await holdUpstream(g, key);
      return { key, undo: release };
    },
    status: 429,
    retryAfter: 1,
  },
  {
    rule: 'ip-concurrency',
    policy: `ip:\n  concurrency: 1\n${ONE_PER_S_SLOWED('')}`,
    async setup(g) {
      const { key } = g.addKey('acme');
      assert.equal((await g.call(OK, { key })).status, 200);
      const held = g.call(OK, { key });
      await until(() => g.clock.pending() === 1, 'a slowed request holds the IP slot');
      return {
        key,
        async undo() {
          g.clock.advance(1_000);
          assert.equal((await held).status, 200);
        },
      };
    },
    status: 429,
    retryAfter: 1,
  },
  {
    rule: 'unauthenticated-concurrency',
    policy: 'server:\n  unauthenticatedConcurrency: 1\n',
    async setup(g) {
      return { undo: await holdUpstream(g) };
    },
    status: 429,
    retryAfter: 1,
  },
  {
    rule: 'route-rate',
    policy: 'routes:\n  - { name: heavy, path: /_test/status/200, rate: 1/min }\n',
    async setup(g) {
      const { key } = g.addKey('acme');
      assert.equal((await g.call(OK, { key })).status, 200);
      return { key };
    },
    status: 429,
    retryAfter: 60,
    headers: {
      'ratelimit-policy': '"ip";q=200;w=60, "account";q=60;w=60, "route-heavy";q=1;w=60',
      ratelimit: '"ip";r=198;t=60, "account";r=18;t=2, "route-heavy";r=0;t=60',
    },
  },
  {
    rule: 'bulk-export',
    async setup(g) {
      const { key } = g.addKey('acme');
      assert.equal((await g.call('/api/exports/companies', { key })).status, 200);
      return { key };
    },
    path: '/api/exports/companies',
    status: 429,
    retryAfter: 30 * 86_400,
    headers: {
      'ratelimit-policy': '"ip";q=200;w=60, "account";q=60;w=60',
      ratelimit: '"ip";r=198;t=60, "account";r=18;t=2',
    },
  },
  {
    rule: 'batch-window',
    policy: 'offHours:\n  confineBatch: true\n',
    async setup(g) {
      return { key: g.addKey('acme').key };
    },
    path: '/api/companies?limit=1',
    status: 429,
    // Monday 07:00 in New York; the next window opens at 01:00 on Tuesday.
    retryAfter: 18 * 3_600,
  },
  {
    rule: 'non-public',
    async setup(g) {
      return { key: g.addKey('acme').key };
    },
    method: 'POST',
    path: '/api/reports',
    status: 403,
    retryAfter: 0,
  },
  {
    rule: 'key-revoked',
    async setup(g) {
      return { key: g.addKey('acme', { status: 'revoked' }).key };
    },
    status: 403,
    retryAfter: 0,
  },
  {
    rule: 'key-suspended',
    async setup(g) {
      return { key: g.addKey('acme', { status: 'suspended', suspendedUntil: T0 + 900_500 }).key };
    },
    status: 403,
    retryAfter: 901,
  },
  {
    rule: 'ip-blocked',
    async setup(g) {
      g.records.putIpBlock({
        ip: '127.0.0.1',
        until: T0 + 3_600_000,
        createdAt: T0,
        reason: 'test',
        reference: 'RL-0000-0000',
        actor: 'support',
      });
      // The gateway reads blocks from the store on its next poll (50 ms here).
      await until(async () => (await g.call(OK)).status === 403, 'the block is read');
      return {};
    },
    status: 403,
    retryAfter: 3_600,
  },
  {
    rule: 'key-missing',
    policy: 'server:\n  unauthenticated: refuse\n',
    async setup() {
      return {};
    },
    status: 401,
    retryAfter: 0,
    headers: { 'www-authenticate': 'Bearer realm="sluice"' },
  },
  {
    rule: 'key-unknown',
    policy: 'server:\n  unauthenticated: refuse\n',
    async setup() {
      return { headers: bearer(`sk_0000000000_${'x'.repeat(32)}`) };
    },
    status: 401,
    retryAfter: 0,
    headers: { 'www-authenticate': 'Bearer realm="sluice", error="invalid_token"' },
  },
];

test('every rule has a row in the answers page and a case here, with the same status', () => {
  const documented = documentedStatuses();
  assert.deepEqual([...documented.keys()].sort(), [...RULES].sort());
  assert.deepEqual(CASES.map((c) => c.rule).sort(), [...RULES].sort());
  for (const c of CASES) assert.equal(c.status, documented.get(c.rule), c.rule);
});

for (const c of CASES) {
  test(`refusal ${c.rule}: ${c.status}, its problem+json and headers exactly`, async () => {
    const g = await start(c.policy ?? '', c.start ?? T0);
    const ctx = await c.setup(g);
    try {
      const headers = { ...(ctx.key === undefined ? {} : bearer(ctx.key)), ...ctx.headers };
      const probe = rawRequest(g.url, c.method ?? 'GET', c.path ?? OK, headers);
      if (c.rule === 'account-queue-timeout') {
        // The probe itself is the one that times out.
        await until(() => g.clock.pending() === 1, 'the probe is queued');
        g.clock.advance(7_000);
      }
      const answer = await probe;
      expectRefusal(answer, c);
    } finally {
      await ctx.undo?.();
    }
  });
}

function expectRefusal(answer: RawAnswer, c: Case) {
  assert.equal(answer.head.split('\r\n')[0], `HTTP/1.1 ${c.status} ${TITLES[c.status]}`);
  const body = JSON.parse(answer.body) as Record<string, unknown>;
  const reference = String(body.reference);
  assert.match(reference, REFERENCE);
  // Key order too: the body is compared as the bytes sent. `retryAfter` is there exactly
  // when the Retry-After header is.
  assert.equal(
    answer.body,
    JSON.stringify({
      type: `tag:sluice,2026:problem:${c.rule}`,
      title: TITLES[c.status],
      status: c.status,
      detail: `${DETAIL_START[c.rule] ?? USAGE_VIOLATION} You can track this request with support by referencing ${reference}.`,
      reference,
      ...(c.retryAfter > 0 ? { retryAfter: c.retryAfter } : {}),
      rule: c.rule,
    }),
  );
  const expected: Record<string, string> = {
    'content-type': 'application/problem+json',
    'cache-control': 'no-store',
    ...(c.retryAfter > 0 ? { 'retry-after': String(c.retryAfter) } : {}),
    ...c.headers,
  };
  const got = Object.fromEntries(
    Object.entries(answer.headers).filter(([name]) => !TRANSPORT.has(name)),
  );
  assert.deepEqual(got, expected);
  assert.equal(answer.headers['content-length'], String(Buffer.byteLength(answer.body)));
}

/** Compares one of the page's examples with the gateway's answer, all but the reference. */
function expectExample(example: ReturnType<typeof documentedExamples>[number], answer: RawAnswer) {
  const lines = answer.head.split('\r\n');
  assert.equal(lines[0], example.statusLine);
  const sent = lines
    .slice(1)
    .filter((l) => !TRANSPORT.has(l.slice(0, l.indexOf(':')).toLowerCase()))
    .map((l) => {
      const colon = l.indexOf(':');
      return `${l.slice(0, colon).toLowerCase()}${l.slice(colon)}`;
    });
  const documented = example.headers.map((l) => {
    const colon = l.indexOf(':');
    return `${l.slice(0, colon).toLowerCase()}${l.slice(colon)}`;
  });
  assert.deepEqual(sent.sort(), documented.sort(), 'the same header lines, value for value');
  const docBody = JSON.stringify(JSON.parse(example.body));
  const reference = (JSON.parse(answer.body) as { reference?: string }).reference;
  const docReference = (JSON.parse(example.body) as { reference?: string }).reference;
  const body =
    reference === undefined || docReference === undefined
      ? answer.body
      : answer.body.replaceAll(reference, docReference);
  assert.equal(body, docBody);
}

test("answers.md's ip-block example is what the gateway sends", async () => {
  const [example] = documentedExamples().filter((e) => e.body.includes('"ip-block"'));
  assert.ok(example, 'the page has the ip-block example');
  const g = await start();
  // The default block, 200/min: 200 requests at T0, in batches over keep-alive.
  for (let i = 0; i < 200; i += 20) {
    const batch = await Promise.all(Array.from({ length: 20 }, () => g.call(OK)));
    assert.deepEqual(new Set(batch.map((a) => a.status)), new Set([200]));
  }
  // One more fits at T0 + 120 s − 199 × 60 s / 200 = T0 + 60.3 s: 17 s from T0 + 43.3 s.
  g.clock.advance(43_300);
  expectExample(example, await rawRequest(g.url, 'GET', OK));
});

test('a request still waiting when the gateway stops is told it is shutting down', async () => {
  const g = await start(ONE_PER_S_SLOWED(''));
  const { key } = g.addKey('acme');
  assert.equal((await g.call(OK, { key })).status, 200);
  const held = rawRequest(g.url, 'GET', OK, bearer(key));
  await until(() => g.clock.pending() === 1, 'the second request is slowed');
  await g.close();
  const answer = await held;
  assert.equal(answer.head.split('\r\n')[0], 'HTTP/1.1 503 Service Unavailable');
  assert.equal(answer.headers['retry-after'], '5');
  assert.equal(
    answer.body,
    JSON.stringify({
      type: 'tag:sluice,2026:problem:shutting-down',
      title: 'Service Unavailable',
      status: 503,
      detail: 'The gateway is shutting down; retry this request in a few seconds.',
    }),
  );
  assert.match(ANSWERS, /503 `shutting-down`/);
});

test("answers.md's bad-path example is what the gateway sends", async () => {
  const [example] = documentedExamples().filter((e) => e.body.includes('"bad-path"'));
  assert.ok(example, 'the page has the bad-path example');
  const g = await start();
  expectExample(example, await rawRequest(g.url, 'GET', '/api/a%2Fb'));
});
