import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { pino } from 'pino';
import { systemClock } from '../../src/core/clock.ts';
import type { NotifyEvent } from '../../src/notify/index.ts';
import { createWebhookNotifier, undiciSend, verifyWebhook } from '../../src/notify/index.ts';

const SECRET = 'whsec_integration_5d1e';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  verified: boolean;
}

/** A loopback receiver; `answer(n)` decides what the n-th request (0-based) gets. */
async function receiver(answer: (n: number, res: ServerResponse) => void) {
  const received: Received[] = [];
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const nowSec = Math.floor(Date.now() / 1000);
    const verified = verifyWebhook(SECRET, req.headers['sluice-signature'], body, nowSec);
    received.push({ headers: req.headers, body, verified });
    answer(received.length - 1, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/sluice`;
  const close = () => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { url, received, close };
}

const lines: string[] = [];
const logger = {
  info: (_o: object, m: string) => lines.push(m),
  warn: (_o: object, m: string) => lines.push(m),
  error: (_o: object, m: string) => lines.push(m),
};

const EVENT: NotifyEvent = {
  type: 'revocation',
  at: Date.UTC(2026, 10, 22, 7, 30),
  reference: 'RL-7KQ4-M9XT',
  subject: { accountId: 'acme', keyId: 'key_1' },
  rule: 'safeguard-non-public',
  detail: 'The key automated report rendering after being refused; it is revoked.',
  counters: { attempts: 12 },
};

test('a delivery refused with 500 is retried and arrives signed, with the event as its body', async (t) => {
  const hook = await receiver((n, res) => {
    res.statusCode = n === 0 ? 500 : 204;
    res.end();
  });
  t.after(hook.close);
  const notifier = createWebhookNotifier({
    webhooks: [{ url: hook.url, secret: SECRET, events: ['revocation'] }],
    clock: systemClock,
    logger,
    retries: [50],
  });
  t.after(() => notifier.close());

  notifier.notify(EVENT);
  await notifier.flush(5_000);

  assert.equal(notifier.pending(), 0);
  assert.equal(hook.received.length, 2);
  const [first, second] = hook.received;
  assert.ok(first.verified && second.verified, 'both attempts carry a valid signature');
  assert.equal(first.headers['sluice-delivery'], second.headers['sluice-delivery']);
  assert.equal(second.headers['sluice-event'], 'revocation');
  assert.equal(second.headers['content-type'], 'application/json');
  const body = JSON.parse(second.body);
  assert.deepEqual(
    { ...body, id: undefined },
    {
      id: undefined,
      type: 'revocation',
      at: '2026-11-22T07:30:00.000Z',
      reference: 'RL-7KQ4-M9XT',
      subject: { accountId: 'acme', keyId: 'key_1' },
      rule: 'safeguard-non-public',
      detail: EVENT.detail,
      counters: { attempts: 12 },
    },
  );
  assert.ok(lines.includes('webhook delivery failed; will retry'));
});

test('a receiver that does not answer in time counts as a failure and is retried', async (t) => {
  const hook = await receiver((n, res) => {
    if (n === 0) return; // never answers: the send's timeout must end it
    res.statusCode = 200;
    res.end('ok');
  });
  t.after(hook.close);
  const notifier = createWebhookNotifier({
    webhooks: [{ url: hook.url, secret: SECRET, events: ['revocation'] }],
    clock: systemClock,
    logger: pino({ level: 'silent' }), // a real pino logger fits the notifier's logger type
    send: undiciSend(200),
    retries: [20],
  });
  t.after(() => notifier.close());

  const started = performance.now();
  notifier.notify(EVENT);
  await notifier.flush(5_000);
  assert.equal(notifier.pending(), 0);
  assert.equal(hook.received.length, 2);
  assert.ok(performance.now() - started >= 200, 'the first attempt waited for its timeout');
});
