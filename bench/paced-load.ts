/**
 * A fixed-rate (open-loop) load driver for one API key: wrk2 is not packaged, and wrk
 * only knows "as fast as possible". Requests are sent on a schedule, whatever the
 * answers; latency counts from the *scheduled* send time, so a slow gateway cannot
 * hide its delay by holding the driver back (no coordinated omission).
 *
 *   node bench/paced-load.ts --url http://127.0.0.1:8080 --key K --rate 200 --duration 10 \
 *     [--local-address 127.0.0.2]
 *
 * prints one JSON line: `{ sent, completed, status: { "200": n, "429": n }, errors,
 * p50Ms, p99Ms, maxMs }`. Bounded: exactly rate × duration requests, each with a 5 s
 * timeout.
 *
 * @example
 *   const r = await pacedLoad({ url, header: 'x-api-key', key, rate: 5, durationSec: 10 });
 *   r.p99Ms; r.status['429'];
 */
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { type buildConnector, Pool } from 'undici';

export interface PacedOptions {
  readonly url: string;
  readonly header: string;
  readonly key: string;
  /** Requests per second. */
  readonly rate: number;
  readonly durationSec: number;
  readonly connections?: number;
  /** Source address, e.g. `127.0.0.2`, so that each account comes from its own client IP. */
  readonly localAddress?: string;
}

export interface PacedResult {
  readonly sent: number;
  readonly completed: number;
  /** Count of answers by status code. */
  readonly status: Record<string, number>;
  /** Requests that got no answer (timeout, connection error). */
  readonly errors: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** An undici connector that binds the client side of each connection to `localAddress`. */
function connectFrom(localAddress: string): buildConnector.connector {
  return (o, callback) => {
    const socket = connect({ host: o.hostname, port: Number(o.port), localAddress });
    socket.setNoDelay(true);
    socket.once('connect', () => callback(null, socket));
    socket.once('error', (error) => callback(error, null));
  };
}

/** The `p`-th percentile (0–100) of `values`, nearest rank; 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

/** Sends `rate × durationSec` requests on schedule and reports what came back. */
export async function pacedLoad(opts: PacedOptions): Promise<PacedResult> {
  const pool = new Pool(opts.url, {
    connections: opts.connections ?? 256,
    pipelining: 1,
    headersTimeout: 5000,
    bodyTimeout: 5000,
    ...(opts.localAddress ? { connect: connectFrom(opts.localAddress) } : {}),
  });
  const total = Math.max(1, Math.round(opts.rate * opts.durationSec));
  const interval = 1000 / opts.rate;
  const latencies: number[] = [];
  const status: Record<string, number> = {};
  let errors = 0;
  const pending = new Set<Promise<void>>();

  const fire = (index: number, scheduledAt: number) => {
    const p = pool
      .request({
        method: 'GET',
        path: `/api/items/${(index % 1000) + 1}`,
        headers: { [opts.header]: opts.key },
      })
      .then(async (res) => {
        await res.body.dump();
        latencies.push(performance.now() - scheduledAt);
        status[res.statusCode] = (status[res.statusCode] ?? 0) + 1;
      })
      .catch(() => {
        errors++;
      })
      .finally(() => pending.delete(p));
    pending.add(p);
  };

  const start = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1);
    for (; sent < due; sent++) fire(sent, start + sent * interval);
    const wait = start + sent * interval - performance.now();
    if (wait > 0) await sleep(wait);
  }
  await Promise.race([Promise.allSettled([...pending]), sleep(10_000)]);
  await pool.destroy();
  return {
    sent,
    completed: latencies.length,
    status,
    errors,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: percentile(latencies, 100),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      header: { type: 'string', default: 'x-api-key' },
      key: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '256' },
      'local-address': { type: 'string' },
    },
  });
  if (values.url === undefined || values.key === undefined || values.rate === undefined) {
    process.stderr.write('usage: paced-load.ts --url URL --key KEY --rate N [--duration S]\n');
    process.exit(2);
  }
  const result = await pacedLoad({
    url: values.url,
    header: values.header,
    key: values.key,
    rate: Number(values.rate),
    durationSec: Number(values.duration),
    connections: Number(values.connections),
    localAddress: values['local-address'],
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}
