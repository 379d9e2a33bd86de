/**
 * The one connection to Redis (a server, or a Redis Cluster) that a node's shared state
 * goes through, made from the policy's `store.redis`, and whether Redis is answering.
 * The limit store uses it now; revocations, leases and safeguard counts can share it.
 *
 * Failing fast is the point: every command is bounded by the policy's `store.timeout`
 * (ioredis `commandTimeout`), commands are never queued while disconnected
 * (`enableOfflineQueue: false`) nor retried after a reconnect (`maxRetriesPerRequest: 0`),
 * so a caller waits at most the timeout. The first failure marks the link down (once,
 * however many requests fail together); from then on callers do not ask Redis at all,
 * and one probe (a PING every `probeMs`, one at a time) finds out when it answers again.
 * ioredis reconnects on its own with a capped backoff: one socket per node, so no herd.
 *
 * @example
 * const link = new RedisLink({ url: 'redis://127.0.0.1:6379' }, { timeoutMs: 50 });
 * link.onChange((up, error) => log(up ? 'redis is back' : `redis failed: ${error}`));
 * await link.ready(2000);
 */
import { Cluster, Redis } from 'ioredis';

/** One server by URL, or the seed nodes of a Redis Cluster. */
export type RedisTarget =
  | { readonly url: string }
  | { readonly cluster: readonly { readonly host: string; readonly port: number }[] };

export interface RedisLinkOptions {
  /** Longest wait for any one command (ms). */
  readonly timeoutMs: number;
  /** Pause between two probes while down (ms; default 200). */
  readonly probeMs?: number;
}

/** Reconnection backoff: 20 ms doubling to at most 1 s between attempts. */
const reconnectDelay = (attempt: number) => Math.min(20 * 2 ** Math.min(attempt, 6), 1000);

export class RedisLink {
  readonly client: Redis | Cluster;
  readonly isCluster: boolean;
  readonly #probeMs: number;
  readonly #listeners: ((up: boolean, error?: unknown) => void)[] = [];
  #up = true;
  #closed = false;
  #probe: NodeJS.Timeout | undefined;

  constructor(target: RedisTarget, options: RedisLinkOptions) {
    this.#probeMs = options.probeMs ?? 200;
    const failFast = {
      commandTimeout: options.timeoutMs,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      connectTimeout: Math.max(options.timeoutMs, 1000),
    };
    if ('url' in target) {
      this.isCluster = false;
      this.client = new Redis(target.url, {
        ...failFast,
        enableAutoPipelining: true,
        retryStrategy: reconnectDelay,
      });
      // A dropped connection is a failure even before a request notices it.
      this.client.on('close', () => this.down(new Error('the connection to Redis closed')));
    } else {
      this.isCluster = true;
      this.client = new Cluster(
        target.cluster.map((n) => ({ host: n.host, port: n.port })),
        {
          enableOfflineQueue: false,
          enableAutoPipelining: true,
          clusterRetryStrategy: reconnectDelay,
          redisOptions: failFast,
        },
      );
    }
    // ioredis reports connection errors as events; the failing commands say the rest.
    this.client.on('error', () => {});
  }

  /** Whether callers should ask Redis (false from a failure until a probe answers). */
  get up(): boolean {
    return this.#up;
  }

  /** Calls `listener` on every change: down (with the error that caused it), then up. */
  onChange(listener: (up: boolean, error?: unknown) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Waits until the client is connected, at most `withinMs`; resolves false (and marks
   * the link down, so the probe takes over) if it is not.
   */
  async ready(withinMs: number): Promise<boolean> {
    const client = this.client;
    if (client.status === 'ready') return true;
    let timer: NodeJS.Timeout | undefined;
    const ok = await new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), withinMs);
      client.once('ready', () => resolve(true));
    });
    clearTimeout(timer);
    if (!ok) this.down(new Error(`Redis did not answer within ${withinMs} ms of starting`));
    return ok;
  }

  /** A command failed or timed out: callers leave Redis until a probe answers. */
  down(error: unknown): void {
    if (!this.#up || this.#closed) return;
    this.#up = false;
    for (const listener of this.#listeners) listener(false, error);
    this.#scheduleProbe();
  }

  #scheduleProbe(): void {
    if (this.#closed) return;
    this.#probe = setTimeout(() => void this.#runProbe(), this.#probeMs);
    this.#probe.unref();
  }

  async #runProbe(): Promise<void> {
    try {
      await this.client.ping();
    } catch {
      this.#scheduleProbe();
      return;
    }
    if (this.#closed) return;
    this.#up = true;
    for (const listener of this.#listeners) listener(true);
  }

  /** Stops probing and drops the connection (no waiting on a Redis that is gone). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#probe);
    this.client.disconnect();
  }
}
