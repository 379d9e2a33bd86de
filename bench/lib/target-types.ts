/**
 * What a benchmark target is: something that starts a gateway (or nothing, for the
 * direct run) in front of the upstream with a given limit, and stops it again.
 *
 * @example
 *   const running = await target.start('http://127.0.0.1:4000', { limit: HIGH_LIMIT, keys: 1000 });
 *   // load running.url with running.keys in the header target.keyHeader
 *   await running.stop();
 */

/** A per-key (per-account, for sluice) limit, translated by each target into its own terms. */
export interface Limit {
  /** Requests per minute for one API key. */
  readonly perMinute: number;
  /** Requests that may pass at once above the rate (nginx `burst`, sluice `burst`). */
  readonly burst: number;
  /** sluice: longest delay before a 429 (0 = reject at once, no slowing). */
  readonly maxDelayMs: number;
  /** sluice: requests of one account being delayed at once. */
  readonly maxSlowed: number;
  /** sluice: requests of one account in the upstream at once. */
  readonly concurrency: number;
  /** sluice: requests of one account waiting for a concurrency slot. */
  readonly queue: number;
}

/** So high that no run ever reaches it: what the overhead rounds use. */
export const HIGH_LIMIT: Limit = {
  perMinute: 60_000_000,
  burst: 100_000,
  maxDelayMs: 1000,
  maxSlowed: 1000,
  concurrency: 1000,
  queue: 1000,
};

/** Low enough to see a 429 within a few requests: the "does it really limit" check. */
export const LOW_LIMIT: Limit = {
  perMinute: 10,
  burst: 5,
  maxDelayMs: 0,
  maxSlowed: 0,
  concurrency: 1000,
  queue: 1000,
};

/**
 * The refusals the per-kind isolation scenario floods a gateway with (bench/refusal-kinds.ts):
 * `rate` 429 (over the key's rate), `suspended` 403 (the key suspended), `blocked-ip` 403
 * (the client's IP blocked), `unknown` 401 (a key the gateway does not know).
 */
export type RefusalKind = 'rate' | 'suspended' | 'blocked-ip' | 'unknown';
export const REFUSAL_KINDS: readonly RefusalKind[] = ['rate', 'suspended', 'blocked-ip', 'unknown'];

/**
 * The client IP of every flood: wrk cannot choose its source address, and the kernel
 * gives every loopback connection 127.0.0.1 as its source (`ip route get 127.0.0.5` says
 * `src 127.0.0.1`). The calm partner sends from another address (scenarios.ts).
 */
export const FLOOD_IP = '127.0.0.1';

/**
 * What a gateway started for one refusal kind must do: only the keys it was started with
 * are valid (any other key: 401), the first of them is the flooding key, and for
 * `suspended` that key is suspended (403), for `blocked-ip` FLOOD_IP is blocked (403).
 *
 * @example
 *   await target.start(upstream, { limit: REFUSAL_LIMIT, keys: 1000, refusal: 'blocked-ip' });
 */
export interface RefusalSetup {
  readonly kind: RefusalKind;
}

export interface RunningTarget {
  /** Base URL to load, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** API keys valid for this target (as many as asked for). */
  readonly keys: readonly string[];
  /** The gateway's process group (its leader's pid), for its CPU time; none for direct. */
  readonly pid?: number;
  /**
   * Process groups that work for the gateway on the same core (its redis-server): their
   * CPU is counted in the gateway's CPU per request.
   */
  readonly helperPids?: readonly number[];
  /** The Redis a Redis row's gateway uses (bench/redis-commands.ts counts its commands). */
  readonly redisUrl?: string;
  /**
   * After a measured run: what went wrong that the figures do not show (sluice on Redis:
   * decisions that fell back to the local insurance limiter), or undefined.
   */
  problems?(): Promise<string | undefined>;
  /** Stops the gateway (by pid) and removes its temporary files. */
  stop(): Promise<void>;
  /**
   * Applies the refusal it was started for, after the warm-up (sluice suspends the
   * flooding key or blocks FLOOD_IP at run time); absent when the start already did.
   */
  applyRefusal?(): Promise<void>;
}

export interface StartOptions {
  readonly limit: Limit;
  /** How many distinct API keys (one account each) the load will rotate over. */
  readonly keys: number;
  /**
   * Refuse keys that were never created (401), with no safeguard acting on the flood, for
   * the unknown-key scenario (targets with `refusesUnknownKeys`).
   */
  readonly refuseUnknownKeys?: boolean;
  /** sluice only: `--threads N` (worker threads sharing one set of limits). */
  readonly threads?: number;
  /** sluice only: Node/V8 flags before the CLI (bench/threads-cpu.ts's variants). */
  readonly nodeArgs?: readonly string[];
  /** sluice only: the limit store on this Redis (`store: { redis: URL }`) instead of memory. */
  readonly redisUrl?: string;
  /** Start for the per-kind isolation flood (targets with `refusalKinds`). */
  readonly refusal?: RefusalSetup;
}

export interface Target {
  /** Short id used on the command line and in results, e.g. `nginx`. */
  readonly name: string;
  /** What the results table calls it. */
  readonly label: string;
  /** Header that carries the API key, lower case. */
  readonly keyHeader: string;
  /** False for the direct run, which has no limiter to check. */
  readonly limits: boolean;
  /**
   * True when the target knows its keys and can refuse a made-up one (sluice): the
   * unknown-key flood runs against it. The peers take any key string as a key.
   */
  readonly refusesUnknownKeys?: boolean;
  /** The refusal kinds it can be started for (bench/refusal-kinds.ts); none: not flooded. */
  readonly refusalKinds?: readonly RefusalKind[];
  /**
   * False: measured in the overhead rounds only, not in the isolation scenario (the Redis
   * rows, whose question is the cost of the shared store, not isolation).
   */
  readonly scenarios?: boolean;
  /** Why this target cannot run on this machine, or undefined when it can. */
  unavailable(): Promise<string | undefined>;
  start(upstreamUrl: string, opts: StartOptions): Promise<RunningTarget>;
}

/** Thrown by `start` when the target cannot run here; the run reports it, and goes on. */
export class TargetUnavailable extends Error {
  override name = 'TargetUnavailable';
}

/** `key-000001`…: keys for gateways that accept any key string. */
export function syntheticKeys(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `key-${String(i + 1).padStart(6, '0')}`);
}
