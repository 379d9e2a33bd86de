/**
 * `sluice_event_loop_delay_seconds` on a real gateway's admin /metrics: built in this
 * process with buildApp, so blocking this test's event loop blocks the gateway's.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type App, buildApp } from '../../src/app.ts';
import { withServerOverrides } from '../../src/core/policy/override.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
import { type DemoUpstream, startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import { MemoryRecordStore } from '../../src/store/memory-record-store.ts';
import { call } from '../helpers/http.ts';

const TOKEN = 'event-loop-delay-test-token';
let upstream: DemoUpstream;
let app: App;
let adminUrl: string;

before(async () => {
  upstream = await startDemoUpstream();
  const policy = withServerOverrides(parsePolicyText('', 'test-policy.yaml', {}), {
    listen: '127.0.0.1:0',
    upstream: upstream.url,
  });
  app = await buildApp({
    policy,
    recordStore: new MemoryRecordStore(),
    logger: createLogger({ level: 'silent' }),
    admin: { host: '127.0.0.1', port: 0, token: TOKEN },
    keyPollMs: 50,
    incidentFlushMs: 50,
    shutdownGraceMs: 1_000,
  });
  const urls = await app.listen();
  assert.ok(urls.adminUrl);
  adminUrl = urls.adminUrl;
});
after(async () => {
  await app?.close();
  await upstream?.close();
});

/** The histogram's buckets (by `le`), sum and count, read from /metrics. */
async function delayHistogram() {
  const text = (
    await call(`${adminUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
  ).body;
  const buckets = new Map<string, number>();
  for (const m of text.matchAll(
    /^sluice_event_loop_delay_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm,
  )) {
    buckets.set(m[1], Number(m[2]));
  }
  const one = (name: string) => {
    const m = new RegExp(`^sluice_event_loop_delay_seconds_${name} (\\S+)$`, 'm').exec(text);
    assert.ok(m, `sluice_event_loop_delay_seconds_${name} is in /metrics`);
    return Number(m[1]);
  };
  assert.match(text, /^# TYPE sluice_event_loop_delay_seconds histogram$/m);
  return { text, buckets, sum: one('sum'), count: one('count') };
}

/** Waits `ms` on a real timer (the loop runs meanwhile: the sampler takes samples). */
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('the event-loop delay histogram is in /metrics and records a 50 ms block of the loop above 20 ms', async () => {
  await pause(100);
  const before = await delayHistogram();
  assert.ok(before.count > 0, 'the sampler has taken samples');
  assert.equal(before.buckets.get('+Inf'), before.count);
  const bounds = [...before.buckets.keys()].filter((le) => le !== '+Inf').map(Number);
  assert.deepEqual(bounds, [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5]);
  const counts = [...before.buckets.values()];
  assert.deepEqual(
    counts,
    [...counts].sort((a, b) => a - b),
    'cumulative buckets never decrease with the bound',
  );

  // Block the loop for 50 ms: the sampler's next timer fires about 50 ms late.
  const started = performance.now();
  while (performance.now() - started < 50) {
    // busy: nothing else runs on this loop meanwhile
  }
  await pause(50);

  const afterBlock = await delayHistogram();
  const above20ms = (h: typeof before) => h.count - (h.buckets.get('0.02') ?? 0);
  assert.ok(above20ms(afterBlock) > above20ms(before), 'a sample later than 20 ms');
  assert.ok(afterBlock.sum - before.sum >= 0.03, `sum grew by ${afterBlock.sum - before.sum} s`);
  for (const [le, n] of before.buckets) {
    assert.ok((afterBlock.buckets.get(le) ?? 0) >= n, `bucket le=${le} only grows`);
  }
});
