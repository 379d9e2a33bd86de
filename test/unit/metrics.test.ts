/**
 * The text an operator's Prometheus scrapes from the admin `/metrics`
 * (gateway/metrics.ts): every family with its help, type and labels, the values moving
 * with what they count, prom-client's process and Node families under `sluice_` unless
 * turned off, and `stop()` ending the event-loop sampler. The stages that move each
 * counter are tested where they count (the in-process files read the same text).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { createMetrics, type GatewayMetrics } from '../../src/gateway/metrics.ts';

/** Builds the metrics, hands them to `body`, and stops their sampler after it. */
async function withMetrics<T>(
  options: { defaults?: boolean },
  body: (m: GatewayMetrics) => Promise<T>,
): Promise<T> {
  const metrics = createMetrics(options);
  try {
    return await body(metrics);
  } finally {
    metrics.stop();
  }
}

/** The sample lines of `text` (no comments, no blank lines), without the event-loop histogram, which moves by itself. */
const samples = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('sluice_event_loop_delay'));

/** `# HELP` and `# TYPE` lines, in order. */
const comments = (text: string) => text.split('\n').filter((l) => l.startsWith('# '));

const zeros = (name: string, bounds: number[]) => [
  ...bounds.map((le) => `${name}_bucket{le="${le}"} 0`),
  `${name}_bucket{le="+Inf"} 0`,
  `${name}_sum 0`,
  `${name}_count 0`,
];
const DELAY_BOUNDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const UPSTREAM_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

test('a fresh gateway scrapes every family with its help and type; unlabelled counters, gauges and histograms at 0', async () => {
  await withMetrics({ defaults: false }, async (m) => {
    const text = await m.registry.metrics();
    assert.deepEqual(comments(text), [
      '# HELP sluice_event_loop_delay_seconds How late the event loop ran a timer (sampled every 10 ms by perf_hooks.monitorEventLoopDelay).',
      '# TYPE sluice_event_loop_delay_seconds histogram',
      '# HELP sluice_forwarded_total Requests forwarded to the upstream.',
      '# TYPE sluice_forwarded_total counter',
      '# HELP sluice_delayed_total Requests held (slowed) before being forwarded.',
      '# TYPE sluice_delayed_total counter',
      '# HELP sluice_refused_total Requests refused by sluice, by rule.',
      '# TYPE sluice_refused_total counter',
      '# HELP sluice_shadow_decisions_total Requests a limit in shadow mode would have delayed or refused (they were forwarded at once), by rule.',
      '# TYPE sluice_shadow_decisions_total counter',
      '# HELP sluice_ip_warnings_total Per-IP warning threshold crossings reported (at most one per IP and window).',
      '# TYPE sluice_ip_warnings_total counter',
      '# HELP sluice_safeguard_actions_total Automatic safeguard actions (suspensions, revocations, IP blocks).',
      '# TYPE sluice_safeguard_actions_total counter',
      '# HELP sluice_waiting_requests Requests currently delayed or queued.',
      '# TYPE sluice_waiting_requests gauge',
      '# HELP sluice_delay_seconds How long slowed requests were held before being forwarded.',
      '# TYPE sluice_delay_seconds histogram',
      '# HELP sluice_upstream_responses_total Answers of the upstream by status class, or "failed" (unreachable or timed out: sluice answered 502/504).',
      '# TYPE sluice_upstream_responses_total counter',
      '# HELP sluice_upstream_duration_seconds Time from forwarding a request to the end of the upstream answer.',
      '# TYPE sluice_upstream_duration_seconds histogram',
      '# HELP sluice_incidents_written_total Incident rows written (one per incident and flush, however many requests it covers).',
      '# TYPE sluice_incidents_written_total counter',
      '# HELP sluice_store_errors_total Record store operations that failed: incidents (kept for the next flush), keys (the poll) or journal (incident journal writes).',
      '# TYPE sluice_store_errors_total counter',
      '# HELP sluice_limit_store_degraded 1 while the shared limit store (Redis) is not answering and decisions fall back (store.onFailure).',
      '# TYPE sluice_limit_store_degraded gauge',
      '# HELP sluice_limit_store_fallbacks_total Limit steps decided without Redis: by the local insurance limiter (onFailure open) or refused 503 (closed).',
      '# TYPE sluice_limit_store_fallbacks_total counter',
      '# HELP sluice_shared_counts_uncounted_total With server.threads > 1: requests let through without being counted against a concurrency, queue or IP cap because the shared table of counts was full (namespace: run, queue, ip, keyless).',
      '# TYPE sluice_shared_counts_uncounted_total counter',
    ]);
    // Labelled counters have no sample until a label set is counted; the waiting gauge
    // reads 0 before the data path names its source.
    assert.deepEqual(samples(text), [
      'sluice_forwarded_total 0',
      'sluice_delayed_total 0',
      'sluice_ip_warnings_total 0',
      'sluice_waiting_requests 0',
      ...zeros('sluice_delay_seconds', DELAY_BOUNDS),
      ...zeros('sluice_upstream_duration_seconds', UPSTREAM_BOUNDS),
      'sluice_incidents_written_total 0',
      'sluice_limit_store_degraded 0',
      'sluice_limit_store_fallbacks_total 0',
    ]);
  });
});

test('each counter, gauge and histogram moves with what it counts, under the labels docs/operations.md names', async () => {
  await withMetrics({ defaults: false }, async (m) => {
    m.forwarded.inc();
    m.forwarded.inc();
    m.delayed.inc();
    m.refused.inc({ rule: 'ip-block' });
    m.refused.inc({ rule: 'ip-block' });
    m.refused.inc({ rule: 'account-rate' });
    m.shadow.inc({ rule: 'account-queue', would: 'refuse' });
    m.warnings.inc();
    m.safeguardActions.inc({ rule: 'auth-failures', action: 'suspend', dry_run: 'false' });
    let waiting = 3;
    m.observeWaiting(() => waiting);
    m.delaySeconds.observe(0.2);
    m.delaySeconds.observe(3);
    m.upstreamResponses.inc({ class: '2xx' });
    m.upstreamResponses.inc({ class: 'failed' });
    m.upstreamSeconds.observe(0.02);
    m.incidentsWritten.inc(4);
    m.storeErrors.inc({ operation: 'keys' });
    m.limitStoreDegraded.set(1);
    m.limitStoreFallbacks.inc();
    m.sharedUncounted.inc({ namespace: 'queue' });

    const text = await m.registry.metrics();
    const delay = [0, 0, 0, 1, 1, 1, 1, 2, 2, 2].map(
      (n, i) => `sluice_delay_seconds_bucket{le="${DELAY_BOUNDS[i]}"} ${n}`,
    );
    const upstream = UPSTREAM_BOUNDS.map(
      (le, i) => `sluice_upstream_duration_seconds_bucket{le="${le}"} ${i < 2 ? 0 : 1}`,
    );
    assert.deepEqual(samples(text), [
      'sluice_forwarded_total 2',
      'sluice_delayed_total 1',
      'sluice_refused_total{rule="ip-block"} 2',
      'sluice_refused_total{rule="account-rate"} 1',
      'sluice_shadow_decisions_total{rule="account-queue",would="refuse"} 1',
      'sluice_ip_warnings_total 1',
      'sluice_safeguard_actions_total{rule="auth-failures",action="suspend",dry_run="false"} 1',
      'sluice_waiting_requests 3',
      ...delay,
      'sluice_delay_seconds_bucket{le="+Inf"} 2',
      'sluice_delay_seconds_sum 3.2',
      'sluice_delay_seconds_count 2',
      'sluice_upstream_responses_total{class="2xx"} 1',
      'sluice_upstream_responses_total{class="failed"} 1',
      ...upstream,
      'sluice_upstream_duration_seconds_bucket{le="+Inf"} 1',
      'sluice_upstream_duration_seconds_sum 0.02',
      'sluice_upstream_duration_seconds_count 1',
      'sluice_incidents_written_total 4',
      'sluice_store_errors_total{operation="keys"} 1',
      'sluice_limit_store_degraded 1',
      'sluice_limit_store_fallbacks_total 1',
      'sluice_shared_counts_uncounted_total{namespace="queue"} 1',
    ]);

    // The waiting gauge is read at each scrape, from the source the data path named.
    waiting = 0;
    assert.ok(samples(await m.registry.metrics()).includes('sluice_waiting_requests 0'));

    // What an operator looks up: each family, with its label names, in the metrics table.
    const doc = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
    const families = new Map<string, string>();
    for (const line of samples(text)) {
      const [, name, labels] = /^(\w+?)(?:_bucket|_sum|_count)?(?:\{(.*)\})? /.exec(line) ?? [];
      const names = (labels ?? '')
        .split(',')
        .map((l) => l.split('=')[0])
        .filter((l) => l !== '' && l !== 'le');
      families.set(name, names.length === 0 ? name : `${name}{${names.join(',')}}`);
    }
    assert.equal(families.size, 15);
    for (const documented of families.values()) {
      assert.ok(doc.includes(`\`${documented}\``), `docs/operations.md names \`${documented}\``);
    }
  });
});

test("prom-client's process and Node families are scraped under sluice_, unless turned off", async () => {
  const families = (text: string) =>
    comments(text)
      .filter((l) => l.startsWith('# TYPE '))
      .map((l) => l.split(' ')[2]);
  const on = await withMetrics({}, async (m) => families(await m.registry.metrics()));
  for (const name of [
    'sluice_process_cpu_user_seconds_total',
    'sluice_process_resident_memory_bytes',
    'sluice_nodejs_eventloop_lag_p99_seconds',
    'sluice_nodejs_heap_size_used_bytes',
  ]) {
    assert.ok(on.includes(name), `${name} is scraped`);
  }
  assert.ok(on.includes('sluice_forwarded_total'));
  assert.deepEqual(
    on.filter((n) => !n.startsWith('sluice_')),
    [],
    'every family is under sluice_',
  );
  const off = await withMetrics({ defaults: false }, async (m) =>
    families(await m.registry.metrics()),
  );
  assert.deepEqual(
    off.filter((n) => n.startsWith('sluice_process_') || n.startsWith('sluice_nodejs_')),
    [],
  );
  assert.ok(off.includes('sluice_forwarded_total'));
});

test("stop() ends the event-loop sampler (the gateway's close): its count no longer grows", async () => {
  const metrics = createMetrics({ defaults: false });
  const count = async () => {
    const m = /^sluice_event_loop_delay_seconds_count (\d+)$/m.exec(
      await metrics.registry.metrics(),
    );
    assert.ok(m);
    return Number(m[1]);
  };
  // The sampler runs on a real libuv timer (every 10 ms): wait, bounded, for a sample.
  const deadline = performance.now() + 5_000;
  while ((await count()) === 0) {
    assert.ok(performance.now() < deadline, 'a sample within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  metrics.stop();
  const stopped = await count();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(await count(), stopped);
});
