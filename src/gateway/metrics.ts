/**
 * Prometheus metrics (prom-client): what the gateway does, by outcome and rule.
 * Served on the admin listener at `/metrics`.
 */
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

export interface GatewayMetrics {
  readonly registry: Registry;
  readonly forwarded: Counter;
  readonly delayed: Counter;
  readonly refused: Counter<'rule'>;
  readonly warnings: Counter;
  readonly safeguardActions: Counter<'rule' | 'action' | 'dry_run'>;
  readonly waiting: Gauge;
  /** Names the function the `sluice_waiting_requests` gauge reads when scraped. */
  observeWaiting(source: () => number): void;
}

export function createMetrics(options: { defaults?: boolean } = {}): GatewayMetrics {
  const registry = new Registry();
  let waitingSource = () => 0;
  if (options.defaults !== false) collectDefaultMetrics({ register: registry, prefix: 'sluice_' });
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
    observeWaiting(source) {
      waitingSource = source;
    },
  };
}
