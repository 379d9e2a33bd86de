/**
 * `sluice_event_loop_delay_seconds`: how late the event loop ran a timer, as a Prometheus
 * histogram, from Node's own sampler (`perf_hooks.monitorEventLoopDelay`, a libuv timer
 * recorded in C++, so measuring costs the loop nothing measurable).
 *
 * A histogram, not a summary: buckets add up across gateways and over any window
 * (`rate(…_bucket[5m])`), and "the share of samples later than 20 ms" needs no quantile
 * chosen in advance; a summary's quantiles can be neither summed nor re-windowed (and
 * prom-client's defaults already give per-scrape p50/p90/p99 gauges as
 * `sluice_nodejs_eventloop_lag_p99_seconds`).
 *
 * Node's sampler keeps an HDR histogram of the time between two firings of a timer of
 * `RESOLUTION_MS`; the delay is that time less the resolution (an idle loop reads about
 * 0). At each scrape the Prometheus buckets are read off the HDR histogram by rank (how
 * many samples are at most the bound): cumulative, so the counts only grow.
 *
 * @example
 *   const delay = eventLoopDelayHistogram(registry);
 *   // GET /metrics: sluice_event_loop_delay_seconds_bucket{le="0.02"} 1234 …
 *   delay.stop();
 */
import { type ELDHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import {
  Histogram,
  type MetricObjectWithValues,
  type MetricType,
  type MetricValueWithName,
  type Registry,
} from 'prom-client';

/** How often Node's timer samples the loop: prom-client's own default, 100 wake-ups a second. */
export const RESOLUTION_MS = 10;

/**
 * Upper bounds in seconds. A loop that keeps up stays in the first buckets (a few ms);
 * 20–50 ms is where one slow turn shows in a proxied request's p99; seconds are a stall.
 */
export const EVENT_LOOP_DELAY_BUCKETS = [
  0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5,
] as const;

const NAME = 'sluice_event_loop_delay_seconds';
const HELP = `How late the event loop ran a timer (sampled every ${RESOLUTION_MS} ms by perf_hooks.monitorEventLoopDelay).`;

export interface EventLoopDelay {
  /** Stops Node's sampler (the gateway's close). */
  stop(): void;
}

/** Registers the histogram on `registry` and starts sampling. */
export function eventLoopDelayHistogram(registry: Registry): EventLoopDelay {
  const sampler = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  sampler.enable();
  // A prom-client Histogram only for its name, type and registration: its values are
  // read from the sampler at each scrape instead of observed one by one.
  new EventLoopDelayMetric(sampler, registry);
  return { stop: () => sampler.disable() };
}

class EventLoopDelayMetric extends Histogram {
  readonly #sampler: ELDHistogram;

  constructor(sampler: ELDHistogram, registry: Registry) {
    super({
      name: NAME,
      help: HELP,
      buckets: [...EVENT_LOOP_DELAY_BUCKETS],
      registers: [registry],
    });
    this.#sampler = sampler;
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    return this.read();
  }

  /** What prom-client's registry calls for the text format (shadows Histogram's own). */
  async getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    return this.read();
  }

  read(): MetricObjectWithValues<MetricValueWithName<string>> {
    const s = this.#sampler;
    const count = s.count;
    const offsetNs = RESOLUTION_MS * 1e6;
    const values: MetricValueWithName<string>[] = [];
    for (const bound of EVENT_LOOP_DELAY_BUCKETS) {
      values.push({
        metricName: `${NAME}_bucket`,
        labels: { le: bound },
        value: samplesAtMost(s, count, bound * 1e9 + offsetNs),
      });
    }
    values.push({ metricName: `${NAME}_bucket`, labels: { le: '+Inf' }, value: count });
    // Samples below the resolution (a timer fired a little early) count as no delay.
    const sumSec = count === 0 ? 0 : (Math.max(0, s.mean - offsetNs) * count) / 1e9;
    values.push({ metricName: `${NAME}_sum`, labels: {}, value: sumSec });
    values.push({ metricName: `${NAME}_count`, labels: {}, value: count });
    // prom-client declares `type` as a numeric enum it never exports; at run time every
    // metric carries the text written after `# TYPE`.
    const type = 'histogram' as unknown as MetricType;
    return { name: NAME, help: HELP, type, values, aggregator: 'sum', collect: () => undefined };
  }
}

/**
 * How many of the `count` samples are at most `boundNs`: the highest rank whose value is
 * within the bound, by binary search over ranks (about 25 lookups of a few µs each).
 * `percentile(100·r/count)` is the r-th smallest sample, as HDR rounds the rank.
 */
function samplesAtMost(s: ELDHistogram, count: number, boundNs: number): number {
  let lo = 0;
  let hi = count;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (s.percentile((100 * mid) / count) <= boundNs) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
