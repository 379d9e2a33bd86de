/**
 * docs/webhooks.md's example bodies are what sluice sends: a revocation by the
 * nonPublicAutomation safeguard and an IP warning, produced by the real gateway (built
 * in-process on a manual clock) and captured from the real notifier's send.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { manualClock } from '../../src/core/clock.ts';
import { startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import { createWebhookNotifier } from '../../src/notify/index.ts';
import { ROOT } from '../helpers/gateway-process.ts';
import {
  type InProcessGateway,
  startInProcessGateway,
  T0,
  until,
} from '../helpers/in-process-gateway.ts';

const sent: Record<string, unknown>[] = [];
let upstream: Awaited<ReturnType<typeof startDemoUpstream>>;
let gw: InProcessGateway;

before(async () => {
  upstream = await startDemoUpstream({});
  const notifier = createWebhookNotifier({
    webhooks: [
      {
        url: 'http://127.0.0.1:9/hooks/sluice',
        secret: 'whsec_test_2f8a1c',
        events: ['warning', 'block', 'suspension', 'revocation'],
      },
    ],
    clock: manualClock(T0),
    logger: createLogger({ level: 'silent' }),
    send: async (_url, init) => {
      sent.push(JSON.parse(init.body) as Record<string, unknown>);
      return { status: 204 };
    },
  });
  gw = await startInProcessGateway({ upstream: upstream.url, notifier });
});

after(async () => {
  await gw?.close();
  await upstream?.close();
});

/** The JSON bodies of the page's ```json blocks that follow a "Sluice-Event: <type>" example. */
function documentedBody(type: string): Record<string, unknown> {
  const page = readFileSync(join(ROOT, 'docs', 'webhooks.md'), 'utf8');
  const re = /```http\n([\s\S]*?)```/g;
  for (const m of page.matchAll(re)) {
    if (!m[1].includes(`Sluice-Event: ${type}\n`)) continue;
    return JSON.parse(m[1].slice(m[1].indexOf('\n\n') + 2)) as Record<string, unknown>;
  }
  throw new Error(`docs/webhooks.md has no example of a ${type} event`);
}

/** The shape a receiver reads: field names (in order), and the names inside subject and counters. */
function shape(body: Record<string, unknown>) {
  return {
    fields: Object.keys(body),
    subject: Object.keys(body.subject as object).sort(),
    counters: body.counters === undefined ? undefined : Object.keys(body.counters as object).sort(),
    type: body.type,
    rule: body.rule,
  };
}

test('the revocation example is the body the nonPublicAutomation safeguard sends', async () => {
  const { key } = gw.addKey('acme');
  for (let i = 0; i < 3; i++) await gw.call('/api/reports', { key, method: 'POST' });
  await until(() => sent.some((b) => b.type === 'revocation'), 'a revocation webhook');
  const real = sent.find((b) => b.type === 'revocation')!;
  assert.deepEqual(shape(documentedBody('revocation')), shape(real));
});

test('the warning example is the body an IP warning sends, without a reference', async () => {
  for (let i = 0; i < 101; i++) await gw.call('/api/companies/cmp-1', {});
  await until(() => sent.some((b) => b.type === 'warning'), 'a warning webhook');
  const real = sent.find((b) => b.type === 'warning')!;
  assert.equal(real.reference, undefined, 'warnings are not incidents: no reference');
  assert.deepEqual(shape(documentedBody('warning')), shape(real));
});
