/**
 * The request path as `pipeline.ts` strings its stages together, through the real
 * gateway (in-process, manual clock, real demo upstream): the two turns that wait (a
 * delegate's lookup, a limit store that answers later, as Redis does) go on to forward
 * or refuse exactly as the synchronous path does, and a bug past either costs that one
 * request a 500 with a log line, never a hang or the process; a refused `Upgrade` is
 * answered `connection: close`, as its socket is closed after it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildApp } from '../../src/app.ts';
import { manualClock } from '../../src/core/clock.ts';
import { withServerOverrides } from '../../src/core/policy/override.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
import { type DemoUpstream, startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import type { NotifyEvent, WebhookNotifier } from '../../src/notify/index.ts';
import { MemoryLimitStore } from '../../src/store/memory-limit-store.ts';
import { MemoryRecordStore } from '../../src/store/memory-record-store.ts';
import { answeringLater } from '../helpers/async-store.ts';
import { type Answer, call } from '../helpers/http.ts';
import { type IdentityEndpoint, startIdentityEndpoint } from '../helpers/identity-endpoint.ts';
import { startInProcessGateway, T0 } from '../helpers/in-process-gateway.ts';
import { sendUntilClosed } from '../helpers/raw-http.ts';

let upstream: DemoUpstream;
let endpoint: IdentityEndpoint;
before(async () => {
  upstream = await startDemoUpstream({});
  endpoint = await startIdentityEndpoint({
    'partner-key-1': { account: 'acme' },
    'partner-key-2': { account: 'acme' },
  });
});
after(async () => {
  await endpoint?.close();
  await upstream?.close();
});

/**
 * A notifier with a bug: it throws, which the real one never does. It stands for any
 * failure past the decision (a stage, a hook): the IP warning is told to the notifier
 * while the request is being held, after the limits have decided.
 */
function brokenNotifier(): WebhookNotifier & { events: NotifyEvent[] } {
  const events: NotifyEvent[] = [];
  return {
    events,
    notify(event) {
      events.push(event);
      throw new Error('the notifier broke');
    },
    flush: async () => {},
    pending: () => 0,
    close() {},
  };
}

/** The gateway over `limitStore`, with the broken notifier and its log lines kept. */
async function gateway(
  t: { after(fn: () => unknown): void },
  policy: string,
  limitStore: MemoryLimitStore,
) {
  const lines: Record<string, unknown>[] = [];
  const notifier = brokenNotifier();
  const app = await buildApp({
    policy: withServerOverrides(parsePolicyText(policy, 'test-policy.yaml', {}), {
      listen: '127.0.0.1:0',
      upstream: upstream.url,
    }),
    recordStore: new MemoryRecordStore(),
    limitStore,
    clock: manualClock(T0),
    logger: createLogger({
      level: 'info',
      destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
    }),
    notifier,
    incidentFlushMs: 50,
    keyPollMs: 50,
    shutdownGraceMs: 1_000,
  });
  const { url } = await app.listen();
  t.after(() => app.close());
  /** A request, bounded: a request the gateway never answers fails the test in 5 s. */
  const get = (path: string, headers: Record<string, string> = {}): Promise<Answer> =>
    call(`${url}${path}`, { headers, signal: AbortSignal.timeout(5_000) });
  const failures = () =>
    lines
      .filter((l) => l.msg === 'request handling failed')
      .map((l) => (l.err as { message?: string } | undefined)?.message);
  return { get, lines, notifier, failures };
}

// The second request from an IP crosses `warn` (reported once per window, to the notifier).
const WARN_AT_TWO = 'ip:\n  warn: 1/min\n  block: 3/min\n';

test('a limit store that answers later: allowed requests are forwarded, refused ones answered once, and a bug past the decision costs that request a 500 and a log line', async (t) => {
  const { get, notifier, failures } = await gateway(
    t,
    WARN_AT_TWO,
    answeringLater(new MemoryLimitStore()),
  );
  const first = await get('/api/companies?limit=1');
  assert.equal(first.status, 200, first.body);
  assert.match(first.headers.ratelimit, /"ip"/);

  // The warning reaches the notifier after the store's answer: its throw is caught there.
  const second = await get('/api/companies?limit=1');
  assert.equal(notifier.events.length, 1);
  assert.equal(second.status, 500, second.body);
  assert.equal(second.headers['content-type'], 'application/problem+json');
  assert.deepEqual(failures(), ['the notifier broke']);

  // The gateway goes on: the next request is forwarded, the one past the block refused.
  assert.equal((await get('/api/companies?limit=1')).status, 200);
  const refused = await get('/api/companies?limit=1');
  assert.equal(refused.status, 429, refused.body);
  assert.equal(refused.json().rule, 'ip-block');
  assert.deepEqual(failures(), ['the notifier broke'], 'a refusal goes no further: no failure');
});

test("a delegate's answer: the request goes on to be forwarded, or refused, and a bug past it costs that request a 500 and a log line", async (t) => {
  const { get, notifier, failures } = await gateway(
    t,
    `${WARN_AT_TWO}server:\n  unauthenticated: refuse\nidentity:\n  delegate: { url: "${endpoint.url}", ttl: 5m }\n`,
    new MemoryLimitStore(),
  );
  const asked = endpoint.calls;
  const first = await get('/api/whoami', { 'x-api-key': 'partner-key-1' });
  assert.equal(first.status, 200, first.body);
  assert.equal(first.json().account, 'acme');

  // A key not cached yet: looked up, and the warning (request 2) thrown past the lookup.
  const second = await get('/api/whoami', { 'x-api-key': 'partner-key-2' });
  assert.equal(endpoint.calls - asked, 2, 'both keys were looked up');
  assert.equal(notifier.events.length, 1);
  assert.equal(second.status, 500, second.body);
  assert.equal(second.headers['content-type'], 'application/problem+json');
  assert.deepEqual(failures(), ['the notifier broke']);

  // A key the delegate does not know: refused after the lookup (not counted per IP).
  const unknown = await get('/api/whoami', { 'x-api-key': 'partner-key-unknown' });
  assert.equal(unknown.status, 401, unknown.body);
  assert.equal(unknown.json().rule, 'key-unknown');

  // A key in hand (cached) past the IP block: refused by admit at once, nothing goes on.
  assert.equal((await get('/api/whoami', { 'x-api-key': 'partner-key-1' })).status, 200);
  const blocked = await get('/api/whoami', { 'x-api-key': 'partner-key-1' });
  assert.equal(blocked.status, 429, blocked.body);
  assert.equal(blocked.json().rule, 'ip-block');
  assert.deepEqual(failures(), ['the notifier broke'], 'a refusal goes no further: no failure');
});

test('a refused Upgrade is answered connection: close (its socket is closed after the answer)', async (t) => {
  const g = await startInProcessGateway({
    upstream: upstream.url,
    policy: 'server:\n  unauthenticated: refuse\n',
  });
  t.after(() => g.close());
  // Read until the gateway closes the socket, at most 5 s.
  const text = (
    await sendUntilClosed(
      g.url,
      'GET /api/companies HTTP/1.1\r\nhost: api.example.com\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n',
      5_000,
    )
  ).toString('latin1');
  const head = text.slice(0, text.indexOf('\r\n\r\n')).toLowerCase();
  assert.match(head, /^http\/1\.1 401 /, text);
  assert.match(head, /\r\nconnection: close(\r\n|$)/, head);
  assert.doesNotMatch(head, /keep-alive/, head);
});
