/**
 * Prometheus metrics (prom-client): what the gateway does, by outcome and rule.
 * Served on the admin listener at `/metrics`.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { eventLoopDelayHistogram } from './event-loop-delay.ts';

export interface GatewayMetrics {
  readonly registry: Registry;
  readonly forwarded: Counter;
  readonly delayed: Counter;
  readonly refused: Counter<'rule'>;
  /** What limits in shadow mode would have done (`would`: delay or refuse), by rule; nothing was done. */
  readonly shadow: Counter<'rule' | 'would'>;
  readonly warnings: Counter;
  readonly safeguardActions: Counter<'rule' | 'action' | 'dry_run'>;
  readonly waiting: Gauge;
  /** How long slowed requests were held. */
  readonly delaySeconds: Histogram;
  /** Answers of the upstream by class (`2xx`…`5xx`), or `failed` (unreachable, timed out). */
  readonly upstreamResponses: Counter<'class'>;
  readonly upstreamSeconds: Histogram;
  /** Incidents written to the record store (one per incident and flush, not per request). */
  readonly incidentsWritten: Counter;
  /** Record store operations that failed (`incidents`: a flush, kept for the next; `keys`: a poll; `journal`: a streak of incident journal writes). */
  readonly storeErrors: Counter<'operation'>;
  /** 1 while the shared limit store (Redis) is not answering and decisions fall back. */
  readonly limitStoreDegraded: Gauge;
  /** Limit steps decided without Redis (by the insurance limiter, or refused 503). */
  readonly limitStoreFallbacks: Counter;
  /** Takes of a per-key count (concurrency, queue, IP) let through uncounted: the shared table was full. */
  readonly sharedUncounted: Counter<'namespace'>;
  /** Names the function the `sluice_waiting_requests` gauge reads when scraped. */
  observeWaiting(source: () => number): void;
  /** Stops the event-loop delay sampler (`sluice_event_loop_delay_seconds`). */
  stop(): void;
}

export function createMetrics(options: { defaults?: boolean } = {}): GatewayMetrics {
  const registry = new Registry();
  let waitingSource = () => 0;
  if (options.defaults !== false) collectDefaultMetrics({ register: registry, prefix: 'sluice_' });
  const eventLoopDelay = eventLoopDelayHistogram(registry);
  return {
    registry,
    forwarded: new Counter({
      name: 'sluice_forwarded_total',
      help: 'Requests forwarded to the upstream.',
      registers: [registry],
    }),
    delayed: new Counter({
      name: 'sluice_delayed_total',
      help: 'Requests held (slowed) before being forwarded.',
      registers: [registry],
    }),
    refused: new Counter({
      name: 'sluice_refused_total',
      help: 'Requests refused by sluice, by rule.',
      labelNames: ['rule'],
      registers: [registry],
    }),
    shadow: new Counter({
      name: 'sluice_shadow_decisions_total',
      help: 'Requests a limit in shadow mode would have delayed or refused (they were forwarded at once), by rule.',
      labelNames: ['rule', 'would'],
      registers: [registry],
    }),
    warnings: new Counter({
      name: 'sluice_ip_warnings_total',
      help: 'Per-IP warning threshold crossings reported (at most one per IP and window).',
      registers: [registry],
    }),
    safeguardActions: new Counter({
      name: 'sluice_safeguard_actions_total',
      help: 'Automatic safeguard actions (suspensions, revocations, IP blocks).',
      labelNames: ['rule', 'action', 'dry_run'],
      registers: [registry],
    }),
    waiting: new Gauge({
      name: 'sluice_waiting_requests',
      help: 'Requests currently delayed or queued.',
      registers: [registry],
      collect() {
        this.set(waitingSource());
      },
    }),
    delaySeconds: new Histogram({
      name: 'sluice_delay_seconds',
      help: 'How long slowed requests were held before being forwarded.',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    upstreamResponses: new Counter({
      name: 'sluice_upstream_responses_total',
      help: 'Answers of the upstream by status class, or "failed" (unreachable or timed out: sluice answered 502/504).',
      labelNames: ['class'],
      registers: [registry],
    }),
    upstreamSeconds: new Histogram({
      name: 'sluice_upstream_duration_seconds',
      help: 'Time from forwarding a request to the end of the upstream answer.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    incidentsWritten: new Counter({
      name: 'sluice_incidents_written_total',
      help: 'Incident rows written (one per incident and flush, however many requests it covers).',
      registers: [registry],
    }),
    storeErrors: new Counter({
      name: 'sluice_store_errors_total',
      help: 'Record store operations that failed: incidents (kept for the next flush), keys (the poll) or journal (incident journal writes).',
      labelNames: ['operation'],
      registers: [registry],
    }),
    limitStoreDegraded: new Gauge({
      name: 'sluice_limit_store_degraded',
      help: '1 while the shared limit store (Redis) is not answering and decisions fall back (store.onFailure).',
      registers: [registry],
    }),
    limitStoreFallbacks: new Counter({
      name: 'sluice_limit_store_fallbacks_total',
      help: 'Limit steps decided without Redis: by the local insurance limiter (onFailure open) or refused 503 (closed).',
      registers: [registry],
    }),
    sharedUncounted: new Counter({
      name: 'sluice_shared_counts_uncounted_total',
      help: 'With server.threads > 1: requests let through without being counted against a concurrency, queue or IP cap because the shared table of counts was full (namespace: run, queue, ip, keyless).',
      labelNames: ['namespace'],
      registers: [registry],
    }),
    observeWaiting(source) {
      waitingSource = source;
    },
    stop: () => eventLoopDelay.stop(),
  };
}
