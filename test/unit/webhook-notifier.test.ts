import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ManualClock } from '../../src/core/clock.ts';
import { manualClock } from '../../src/core/clock.ts';
import type { Webhook } from '../../src/core/policy/types.ts';
import type { NotifyEvent, WebhookNotifierOptions } from '../../src/notify/index.ts';
import { createWebhookNotifier, verifyWebhook } from '../../src/notify/index.ts';

const START = Date.UTC(2026, 0, 1);

interface Call {
  url: string;
  headers: Record<string, string>;
  body: string;
  at: number;
  signal: AbortSignal;
}

type Answer = number | Error | 'hang';

/** Timers on the manual clock: `advance` moves time and fires what is due, in order. */
function harness(answer: (call: Call, index: number) => Answer = () => 200) {
  const clock: ManualClock = manualClock(START);
  const timers: { due: number; fn: () => void; live: boolean }[] = [];
  const calls: Call[] = [];
  const hanging: ((status: number) => void)[] = [];
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const logAt =
    (level: string) =>
    (obj: object, msg: string): void => {
      lines.push({ level, obj: obj as Record<string, unknown>, msg });
    };
  const options = {
    clock,
    logger: {
      info: logAt('info'),
      warn: logAt('warn'),
      error: logAt('error'),
      debug: logAt('debug'),
    },
    setTimer: (fn: () => void, ms: number) => {
      const timer = { due: clock.now() + ms, fn, live: true };
      timers.push(timer);
      return () => {
        timer.live = false;
      };
    },
    send: async (
      url: string,
      init: { headers: Record<string, string>; body: string; signal: AbortSignal },
    ) => {
      const call = {
        url,
        headers: init.headers,
        body: init.body,
        at: clock.now(),
        signal: init.signal,
      };
      calls.push(call);
      const a = answer(call, calls.length - 1);
      if (a === 'hang')
        return new Promise<{ status: number }>((r) => hanging.push((status) => r({ status })));
      if (a instanceof Error) throw a;
      return { status: a };
    },
  } satisfies Partial<WebhookNotifierOptions>;

  /** Lets promise callbacks (send results) run; not a sleep. */
  const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

  async function advance(ms: number): Promise<void> {
    const end = clock.now() + ms;
    await settle();
    for (;;) {
      const next = timers.filter((t) => t.live && t.due <= end).sort((a, b) => a.due - b.due)[0];
      if (next === undefined) break;
      clock.set(next.due);
      next.live = false;
      next.fn();
      await settle();
    }
    clock.set(end);
  }

  return {
    clock,
    calls,
    lines,
    hanging,
    options,
    settle,
    advance,
    liveTimers: () => timers.filter((t) => t.live),
  };
}

const HOOKS: Webhook[] = [
  {
    url: 'https://ops.example.com/hooks/sluice?token=tok_123',
    secret: 'sec-A',
    events: ['revocation', 'suspension'],
  },
  { url: 'https://hooks.example.org/services/T0/B0/XYZ', secret: 'sec-B', events: ['warning'] },
];

function event(type: NotifyEvent['type'], reference = 'RL-7KQ4-M9XT'): NotifyEvent {
  return {
    type,
    at: START,
    reference,
    subject: { accountId: 'acme', keyId: 'key_1', ip: '203.0.113.9' },
    rule: 'safeguard-ignoring-429',
    detail: 'The key kept sending requests while being answered 429.',
    until: START + 3_600_000,
  };
}

test('each event goes only to the webhooks subscribed to its type, and is logged once', async () => {
  const h = harness();
  const notifier = createWebhookNotifier({ ...h.options, webhooks: HOOKS });
  notifier.notify(event('warning', 'RL-AAAA-AAAA'));
  notifier.notify(event('revocation', 'RL-BBBB-BBBB'));
  notifier.notify(event('block', 'RL-CCCC-CCCC'));
  await h.settle();

  assert.deepEqual(
    h.calls.map((c) => [c.url, JSON.parse(c.body).reference]),
    [
      [HOOKS[1].url, 'RL-AAAA-AAAA'],
      [HOOKS[0].url, 'RL-BBBB-BBBB'],
    ],
  );
  const eventLines = h.lines.filter((l) => l.msg.startsWith('sluice '));
  assert.deepEqual(
    eventLines.map((l) => [l.level, l.obj.event, l.obj.reference]),
    [
      ['info', 'warning', 'RL-AAAA-AAAA'],
      ['warn', 'revocation', 'RL-BBBB-BBBB'],
      ['warn', 'block', 'RL-CCCC-CCCC'],
    ],
  );
  assert.deepEqual(eventLines[0].obj.subject, event('warning').subject);
  assert.equal(notifier.pending(), 0);
});

test('a delivery is signed, typed and carries the event as JSON', async () => {
  const h = harness();
  const notifier = createWebhookNotifier({ ...h.options, webhooks: HOOKS });
  notifier.notify(event('suspension'));
  await h.settle();
  const [call] = h.calls;
  assert.equal(call.headers['Sluice-Event'], 'suspension');
  assert.equal(call.headers['content-type'], 'application/json');
  assert.match(call.headers['Sluice-Delivery'], /^[0-9a-f-]{36}$/);
  assert.equal(call.headers['Sluice-Signature'].split(',')[0], `t=${START / 1000}`);
  assert.ok(verifyWebhook('sec-A', call.headers['Sluice-Signature'], call.body, START / 1000));
  assert.ok(!verifyWebhook('sec-B', call.headers['Sluice-Signature'], call.body, START / 1000));
  const body = JSON.parse(call.body);
  assert.match(body.id, /^[0-9a-f-]{36}$/);
  assert.deepEqual(
    { ...body, id: undefined },
    {
      id: undefined,
      type: 'suspension',
      at: '2026-01-01T00:00:00.000Z',
      reference: 'RL-7KQ4-M9XT',
      subject: { accountId: 'acme', keyId: 'key_1', ip: '203.0.113.9' },
      rule: 'safeguard-ignoring-429',
      detail: 'The key kept sending requests while being answered 429.',
      until: '2026-01-01T01:00:00.000Z',
    },
  );
});

test('a failing delivery is retried on schedule, re-signed each time, then dropped', async () => {
  const h = harness(() => 503);
  const notifier = createWebhookNotifier({ ...h.options, webhooks: HOOKS });
  notifier.notify(event('revocation'));
  await h.advance(60 * 60_000);

  assert.deepEqual(
    h.calls.map((c) => (c.at - START) / 1000),
    [0, 1, 6, 36, 156, 756],
  );
  assert.equal(new Set(h.calls.map((c) => c.headers['Sluice-Delivery'])).size, 1);
  for (const c of h.calls) {
    assert.ok(verifyWebhook('sec-A', c.headers['Sluice-Signature'], c.body, c.at / 1000, 0));
  }
  assert.equal(notifier.pending(), 0);
  assert.equal(h.lines.filter((l) => l.level === 'warn' && l.msg.includes('will retry')).length, 5);
  const final = h.lines.filter((l) => l.level === 'error');
  assert.equal(final.length, 1);
  assert.match(final[0].msg, /failed 6 times; dropped/);
  assert.equal(final[0].obj.status, 503);
  assert.equal(h.liveTimers().length, 0);
});

test('network errors, 408 and 429 are retried; a later success ends the delivery', async () => {
  const answers: Answer[] = [new Error('connect ECONNREFUSED'), 408, 429, 204];
  const h = harness((_c, i) => answers[i]);
  const notifier = createWebhookNotifier({
    ...h.options,
    webhooks: HOOKS,
    retries: [10, 20, 30, 40],
  });
  notifier.notify(event('revocation'));
  await h.advance(1_000);
  assert.deepEqual(
    h.calls.map((c) => c.at - START),
    [0, 10, 30, 60],
  );
  assert.equal(notifier.pending(), 0);
  assert.equal(h.lines.filter((l) => l.level === 'error').length, 0);
  assert.equal(
    h.lines.find((l) => l.msg.includes('will retry'))?.obj.error,
    'connect ECONNREFUSED',
  );
});

for (const status of [400, 401, 404, 410, 413]) {
  test(`a ${status} is final: no retry, one error line`, async () => {
    const h = harness(() => status);
    const notifier = createWebhookNotifier({ ...h.options, webhooks: HOOKS });
    notifier.notify(event('revocation'));
    await h.advance(60 * 60_000);
    assert.equal(h.calls.length, 1);
    assert.equal(notifier.pending(), 0);
    const errors = h.lines.filter((l) => l.level === 'error');
    assert.equal(errors.length, 1);
    assert.match(errors[0].msg, new RegExp(`refused the delivery with ${status}; not retried`));
  });
}

test('the queue is bounded: when full, the oldest waiting delivery is dropped with a log line', async () => {
  const h = harness((_c, i) => (i === 0 ? 'hang' : 200));
  const notifier = createWebhookNotifier({
    ...h.options,
    webhooks: HOOKS,
    maxQueue: 3,
    concurrency: 1,
  });
  for (const ref of ['RL-1', 'RL-2', 'RL-3', 'RL-4', 'RL-5'])
    notifier.notify(event('revocation', ref));
  await h.settle();
  assert.equal(notifier.pending(), 3);
  const drops = h.lines.filter((l) => l.msg.includes('queue full'));
  assert.deepEqual(
    drops.map((l) => l.obj.reference),
    ['RL-2', 'RL-3'],
  );
  h.hanging[0](200);
  await h.settle();
  assert.deepEqual(
    h.calls.map((c) => JSON.parse(c.body).reference),
    ['RL-1', 'RL-4', 'RL-5'],
  );
  assert.equal(notifier.pending(), 0);
});

test('a delivery waiting to retry is dropped before the newcomer when the queue is full', async () => {
  const h = harness((_c, i) => (i === 0 ? 500 : 'hang'));
  const notifier = createWebhookNotifier({
    ...h.options,
    webhooks: HOOKS,
    maxQueue: 2,
    concurrency: 1,
  });
  notifier.notify(event('revocation', 'RL-1'));
  await h.settle(); // RL-1 failed and waits for its retry
  notifier.notify(event('revocation', 'RL-2')); // in flight
  notifier.notify(event('revocation', 'RL-3'));
  await h.settle();
  assert.deepEqual(
    h.lines.filter((l) => l.msg.includes('queue full')).map((l) => l.obj.reference),
    ['RL-1'],
  );
  assert.equal(h.liveTimers().length, 0, "the dropped delivery's retry timer is cancelled");
  h.hanging[0](200);
  await h.settle();
  assert.deepEqual(
    h.calls.map((c) => JSON.parse(c.body).reference),
    ['RL-1', 'RL-2', 'RL-3'],
  );
});

test('at most `concurrency` deliveries are in flight', async () => {
  const h = harness(() => 'hang');
  const notifier = createWebhookNotifier({ ...h.options, webhooks: HOOKS, concurrency: 2 });
  for (let i = 0; i < 5; i++) notifier.notify(event('revocation', `RL-${i}`));
  await h.settle();
  assert.equal(h.calls.length, 2);
  h.hanging[0](200);
  await h.settle();
  assert.equal(h.calls.length, 3);
  assert.equal(notifier.pending(), 4);
});

test('flush tries waiting deliveries now and resolves when they are done', async () => {
  let up = false;
  const h = harness(() => (up ? 200 : 500));
  const notifier = createWebhookNotifier({ ...h.options, webhooks: HOOKS, retries: [600_000] });
  notifier.notify(event('revocation'));
  await h.settle();
  assert.equal(notifier.pending(), 1);
  up = true;
  const flushing = notifier.flush(5_000);
  await h.settle();
  assert.equal(notifier.pending(), 0);
  await flushing;
  assert.equal(h.calls.length, 2);
  assert.equal(h.calls[1].at, START, 'the retry was not left waiting for its back-off');
  assert.equal(notifier.pending(), 0);
  assert.equal(h.liveTimers().length, 0);
});

test('flush gives up after its timeout; close drops what is left', async () => {
  const h = harness(() => 'hang');
  const notifier = createWebhookNotifier({ ...h.options, webhooks: HOOKS });
  notifier.notify(event('revocation'));
  let flushed = false;
  const flushing = notifier.flush(2_000).then(() => {
    flushed = true;
  });
  await h.advance(1_999);
  assert.equal(flushed, false);
  await h.advance(1);
  await flushing;
  assert.equal(notifier.pending(), 1);
  assert.ok(h.lines.some((l) => l.msg.includes('still pending after flush')));

  assert.equal(h.calls[0].signal.aborted, false);
  notifier.close();
  assert.equal(h.calls[0].signal.aborted, true, 'the send in flight is aborted');
  assert.equal(notifier.pending(), 0);
  assert.ok(h.lines.some((l) => l.level === 'error' && l.obj.dropped === 1));
  notifier.notify(event('revocation', 'RL-AFTER'));
  await h.settle();
  assert.equal(h.calls.length, 1, 'nothing is sent after close');
  assert.ok(
    h.lines.some((l) => l.obj.reference === 'RL-AFTER'),
    'but the event is still logged',
  );
});

test('notify never throws: not on a broken logger, not on a send that throws', async () => {
  const h = harness();
  const options = {
    ...h.options,
    webhooks: HOOKS,
    retries: [5],
    logger: {
      info: () => {
        throw new Error('disk full');
      },
      warn: () => {
        throw new Error('disk full');
      },
      error: () => {
        throw new Error('disk full');
      },
    },
  };
  let sends = 0;
  const notifier = createWebhookNotifier({
    ...options,
    send: (url, init) => {
      sends++;
      if (sends === 1) throw new TypeError('bad header');
      return h.options.send(url, init);
    },
  });
  assert.doesNotThrow(() => notifier.notify(event('revocation')));
  await h.advance(10);
  assert.equal(sends, 2);
  assert.equal(notifier.pending(), 0);
});

test('log lines never contain a webhook secret, nor the URL path or query', async () => {
  const h = harness(() => 500);
  const notifier = createWebhookNotifier({ ...h.options, webhooks: HOOKS, retries: [1] });
  notifier.notify(event('revocation'));
  notifier.notify(event('warning'));
  await h.advance(100);
  const text = JSON.stringify(h.lines);
  for (const secret of ['sec-A', 'sec-B', 'tok_123', 'XYZ', '/hooks/']) {
    assert.ok(!text.includes(secret), `log mentions ${secret}`);
  }
  assert.ok(text.includes('https://ops.example.com'));
});
