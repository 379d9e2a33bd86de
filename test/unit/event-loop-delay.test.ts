/**
 * `sluice_event_loop_delay_seconds` as a scrape reads it (gateway/event-loop-delay.ts):
 * the text before any sample, the buckets read off Node's sampler, the sum, `stop()`,
 * and the JSON the supervisor sums over threads.
 *
 * The module takes no clock and no sampler: it reads Node's own
 * `monitorEventLoopDelay`, a libuv timer, so the manual clock cannot drive it. These
 * tests let the real loop run (bounded polls, a few short pauses) and block it with a
 * busy loop; they assert only what holds however late a loaded machine runs the timer
 * (a sample within 5 ms on an idle loop, the 100 ms block above 50 ms and under 5 s).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AggregatorRegistry, Registry } from 'prom-client';
import {
  EVENT_LOOP_DELAY_BUCKETS,
  eventLoopDelayHistogram,
} from '../../src/gateway/event-loop-delay.ts';

const NAME = 'sluice_event_loop_delay_seconds';

/** The histogram's samples as Prometheus reads them from `text`. */
function histogram(text: string) {
  const buckets = new Map<string, number>();
  let sum = Number.NaN;
  let count = Number.NaN;
  const lines = text.split('\n').filter((l) => l.startsWith(NAME));
  for (const line of lines) {
    const bucket = /^sluice_event_loop_delay_seconds_bucket\{le="([^"]+)"\} (\S+)$/.exec(line);
    const one = /^sluice_event_loop_delay_seconds_(sum|count) (\S+)$/.exec(line);
    if (bucket) buckets.set(bucket[1], Number(bucket[2]));
    else if (one?.[1] === 'sum') sum = Number(one[2]);
    else if (one?.[1] === 'count') count = Number(one[2]);
    else assert.fail(`a line of the histogram Prometheus cannot read: ${line}`);
  }
  assert.equal(lines.length, EVENT_LOOP_DELAY_BUCKETS.length + 3, 'the buckets, +Inf, sum, count');
  const at = (le: number | string) => {
    const n = buckets.get(String(le));
    assert.ok(n !== undefined, `bucket le=${le}`);
    return n;
  };
  return { buckets, sum, count, at };
}

async function scrape(registry: Registry) {
  return histogram(await registry.metrics());
}

/**
 * Polls (every 5 ms, at most 5 s) until the sampler has taken `n` samples and `also`
 * holds of them.
 */
async function samples(
  registry: Registry,
  n: number,
  also: (h: ReturnType<typeof histogram>) => boolean = () => true,
) {
  const deadline = performance.now() + 5_000;
  for (;;) {
    const h = await scrape(registry);
    if (h.count >= n && also(h)) return h;
    assert.ok(performance.now() < deadline, `${n} samples within 5 s (got ${h.count})`);
    await pause(5);
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Holds the loop for `ms`: the sampler's next timer fires that much late. */
function block(ms: number) {
  const started = performance.now();
  while (performance.now() - started < ms) {
    // busy: nothing else runs on this loop meanwhile
  }
}

/**
 * The largest sum the buckets allow: each sample at most its bucket's bound (the delay
 * is read off the same sampler as the buckets, and never above the value they rank).
 */
function sumBound(h: ReturnType<typeof histogram>) {
  let below = 0;
  let bound = 0;
  for (const le of EVENT_LOOP_DELAY_BUCKETS) {
    bound += (h.at(le) - below) * le;
    below = h.at(le);
  }
  assert.equal(below, h.count, 'no sample above 5 s');
  return bound;
}

test('before its first sample the histogram reads 0 everywhere: buckets, sum (not NaN) and count', async () => {
  const registry = new Registry();
  const delay = eventLoopDelayHistogram(registry);
  try {
    // Read in the same turn of the loop: the sampler's timer has not fired yet.
    const text = await registry.metrics();
    const buckets = EVENT_LOOP_DELAY_BUCKETS.map((le) => `${NAME}_bucket{le="${le}"} 0`);
    assert.equal(
      text,
      [
        `# HELP ${NAME} How late the event loop ran a timer (sampled every 10 ms by perf_hooks.monitorEventLoopDelay).`,
        `# TYPE ${NAME} histogram`,
        ...buckets,
        `${NAME}_bucket{le="+Inf"} 0`,
        `${NAME}_sum 0`,
        `${NAME}_count 0`,
        '',
      ].join('\n'),
    );
  } finally {
    delay.stop();
  }
});

test('an idle loop reads within 5 ms of the timer, a 100 ms block above 50 ms; the sum is what the buckets hold', async () => {
  const registry = new Registry();
  const delay = eventLoopDelayHistogram(registry);
  try {
    // The timer's own 10 ms are not delay: an idle loop has samples in the first buckets
    // (waited for, should a loaded machine run the first few timers late).
    const quiet = await samples(registry, 10, (h) => h.at(0.005) > 0);
    assert.equal(quiet.at(5), quiet.count, 'every sample is under 5 s');
    assert.equal(quiet.at('+Inf'), quiet.count);
    assert.ok(quiet.sum <= sumBound(quiet), `sum ${quiet.sum} within the buckets' bounds`);

    block(100);
    const late = await samples(registry, quiet.count + 2);
    const above50ms = late.count - late.at(0.05);
    assert.ok(above50ms >= 1, 'the blocked turn is a sample above 50 ms');
    assert.equal(late.at(5), late.count, 'and under 5 s');
    const counts = EVENT_LOOP_DELAY_BUCKETS.map((le) => late.at(le));
    assert.deepEqual(
      counts,
      [...counts].sort((a, b) => a - b),
      'cumulative buckets',
    );
    assert.ok(late.sum >= 0.04 * above50ms, `sum ${late.sum} holds the late samples`);
    assert.ok(late.sum <= sumBound(late), `sum ${late.sum} within the buckets' bounds`);
  } finally {
    delay.stop();
  }
});

test('stop() ends the sampling: the count no longer grows', async () => {
  const registry = new Registry();
  const delay = eventLoopDelayHistogram(registry);
  await samples(registry, 1);
  delay.stop();
  const stopped = (await scrape(registry)).count;
  // Five of the sampler's periods: a sampler still running takes about five samples.
  await pause(50);
  assert.equal((await scrape(registry)).count, stopped);
});

test("threads' histograms add up as the supervisor's /metrics sums them (prom-client's JSON, aggregated)", async () => {
  const registries = [new Registry(), new Registry()];
  const delays = registries.map((r) => eventLoopDelayHistogram(r));
  try {
    await Promise.all(registries.map((r) => samples(r, 3)));
    for (const d of delays) d.stop();
    const [a, b] = await Promise.all(registries.map(scrape));
    // A worker posts its JSON as plain data (threads/worker.ts).
    const json = await Promise.all(
      registries.map(async (r) => JSON.parse(JSON.stringify(await r.getMetricsAsJSON()))),
    );
    const both = histogram(await AggregatorRegistry.aggregate(json).metrics());
    assert.equal(both.count, a.count + b.count);
    assert.equal(both.at('+Inf'), a.count + b.count);
    for (const le of EVENT_LOOP_DELAY_BUCKETS) assert.equal(both.at(le), a.at(le) + b.at(le));
    assert.ok(Math.abs(both.sum - (a.sum + b.sum)) < 1e-9);
  } finally {
    for (const d of delays) d.stop();
  }
});
