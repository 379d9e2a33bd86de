/**
 * The client: one request function bound to a gateway's base URL and an API key, that
 * follows sluice's rules by construction (docs/answers.md, "How to behave"):
 *
 * - one request at a time unless `concurrency` is raised, and never wider than the
 *   plan's and the IP's concurrency published at `/.well-known/sluice`; narrower when
 *   answers come slowed (`Sluice-Delay-Ms`);
 * - paced from the `RateLimit` headers (see pacer.ts), so a long run meets no 429;
 * - on 429, every request of the client waits `Retry-After` (3 minutes when absent),
 *   then the client goes on at half the rate and recovers gradually;
 * - on 401, 403 and other non-retryable 4xx, it halts: pending and later requests reject
 *   with a `SluiceHaltedError` carrying the problem+json, and `onHalt` is called;
 * - network errors, 408 and 5xx are retried with capped exponential back-off and full
 *   jitter, idempotent methods only;
 * - routes the policy marks `non-public` are refused locally, before any request.
 */
import { type CheckpointStore, fileCheckpoint } from './checkpoint.ts';
import {
  type Problem,
  readProblem,
  SluiceClientError,
  SluiceHaltedError,
  SluiceLocalRefusal,
  SluiceRefusal,
} from './errors.ts';
import { runExport } from './export.ts';
import { Pacer } from './pacer.ts';
import { isPublishedPolicy, matchRoute, type PublishedPolicy } from './published-policy.ts';
import { retryAfterMs } from './rate-limit-headers.ts';
import { runSync, type SyncOptions, type SyncResult } from './sync.ts';
import { type ClientClock, realClock } from './time.ts';

export interface ClientOptions {
  /** The gateway's base URL, e.g. `https://api.example.com` (paths are appended to it). */
  readonly baseUrl: string;
  /** The API key (`sk_…`), sent as `Authorization: Bearer`. */
  readonly key: string;
  /** Requests at once (default 1); capped by the plan's and the IP's published concurrency. */
  readonly concurrency?: number;
  /** Your plan's name, for its published concurrency (default: the policy's `defaultPlan`). */
  readonly plan?: string;
  /** Called once when the client halts ("notify yourself and stop"). */
  readonly onHalt?: (error: SluiceHaltedError) => void;
  /** Where sync positions and export dates are kept (default: `./sluice-checkpoint.json`). */
  readonly checkpoint?: CheckpointStore;
  /** Time source and sleep (default: real time). */
  readonly clock?: ClientClock;
  /** The `fetch` to use (default: the platform's). */
  readonly fetch?: typeof fetch;
  /** Retries of one request after network errors, 408, 5xx or 429 (default 5). */
  readonly retries?: number;
  /** Back-off of the first retry and the cap (defaults 1 s and 60 s). */
  readonly backoff?: { readonly baseMs?: number; readonly capMs?: number };
  /** The pause after a 429 without `Retry-After` (default 180 s: "a few minutes"). */
  readonly defaultRetryAfterMs?: number;
  /** 4xx statuses that are answers, not reasons to halt (default 404, 409, 412, 422). */
  readonly passStatuses?: readonly number[];
  /** Random numbers in [0, 1) for the jitter (default `Math.random`). */
  readonly random?: () => number;
}

/** What the client has done so far. */
export interface ClientStats {
  /** Requests sent (each retry counts). */
  requests: number;
  /** Answers 429. */
  refused: number;
  /** Answers slowed by the gateway (`Sluice-Delay-Ms`). */
  slowed: number;
  /** Retries after network errors and 5xx. */
  retries: number;
  /** Milliseconds spent waiting for the limits (pacing, 429 pauses, off-hours windows). */
  waitedMs: number;
}

/** `RequestInit` plus `stream`: hand the body over unread instead of buffering it. */
export interface SluiceRequestInit extends RequestInit {
  readonly stream?: boolean;
}

export interface SluiceClient {
  /**
   * Sends one request (`path` is appended to the base URL), when the limits allow. Resolves
   * to the answer (its body already read, unless `stream`) for 2xx, 3xx and `passStatuses`.
   */
  request(path: string, init?: SluiceRequestInit): Promise<Response>;
  /** `request`, then the body as JSON; throws `SluiceClientError` on a status that is not 2xx. */
  json<T = unknown>(path: string, init?: SluiceRequestInit): Promise<T>;
  /** Incremental sync of a list endpoint (see sync.ts). */
  sync(collection: string, options?: SyncOptions): Promise<SyncResult>;
  /** One bulk export, when the allowance published by the gateway has one left (see export.ts). */
  exportOnce(dataset: string): Promise<Response>;
  /** The published policy (fetched once, or again with `refresh`). */
  policy(refresh?: boolean): Promise<PublishedPolicy>;
  readonly stats: Readonly<ClientStats>;
  /** Why the client halted, once it has. */
  readonly halted: SluiceHaltedError | undefined;
  readonly clock: ClientClock;
  readonly checkpoint: CheckpointStore;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
/** Refusals about one route's allowance: they say nothing about the client's pace. */
const ROUTE_REFUSALS = new Set(['bulk-export', 'batch-window']);
const NO_BODY = new Set([101, 204, 205, 304]);

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

/**
 * Creates a client bound to one gateway and key.
 *
 * @example
 * const api = createClient({ baseUrl: 'http://127.0.0.1:8080', key: process.env.KEY!, onHalt: alert });
 * const company = await api.json('/api/companies/cmp-0001');
 */
export function createClient(options: ClientOptions): SluiceClient {
  if (typeof options.baseUrl !== 'string' || !/^https?:\/\//.test(options.baseUrl)) {
    throw new SluiceClientError(
      'SLUICE_CLIENT_OPTIONS',
      `baseUrl must be an http:// or https:// URL, got ${JSON.stringify(options.baseUrl)}`,
    );
  }
  if (typeof options.key !== 'string' || options.key.length === 0) {
    throw new SluiceClientError('SLUICE_CLIENT_OPTIONS', 'key must be the API key (sk_…)');
  }
  const base = options.baseUrl.replace(/\/+$/, '');
  const clock = options.clock ?? realClock;
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  const checkpoint = options.checkpoint ?? fileCheckpoint();
  const retries = options.retries ?? 5;
  const baseMs = options.backoff?.baseMs ?? 1_000;
  const capMs = options.backoff?.capMs ?? 60_000;
  const defaultRetryAfter = options.defaultRetryAfterMs ?? 180_000;
  const pass = new Set(options.passStatuses ?? [404, 409, 412, 422]);
  const random = options.random ?? Math.random;
  const wanted = Math.max(1, Math.floor(options.concurrency ?? 1));

  const pacer = new Pacer(1);
  const stats: ClientStats = { requests: 0, refused: 0, slowed: 0, retries: 0, waitedMs: 0 };
  let halted: SluiceHaltedError | undefined;
  let published: Promise<PublishedPolicy> | undefined;
  let policyRetryAt = 0;
  let active = 0;
  const waiting: Waiter[] = [];

  async function fetchPolicy(): Promise<PublishedPolicy> {
    let body: unknown;
    try {
      const res = await fetchImpl(`${base}/.well-known/sluice`, {
        headers: { accept: 'application/json' },
      });
      body = res.ok ? await res.json() : undefined;
    } catch (cause) {
      throw new SluiceClientError(
        'SLUICE_CLIENT_NO_POLICY',
        `${base}/.well-known/sluice could not be read: is ${base} a sluice gateway?`,
        { cause },
      );
    }
    if (!isPublishedPolicy(body)) {
      throw new SluiceClientError(
        'SLUICE_CLIENT_NO_POLICY',
        `${base}/.well-known/sluice is not a sluice policy (version 1): is ${base} a sluice gateway?`,
      );
    }
    // Wider only within what the gateway publishes: the plan's and one IP's concurrency.
    const plan = body.plans[options.plan ?? body.defaultPlan] ?? body.plans[body.defaultPlan];
    pacer.maxWidth = Math.max(1, Math.min(wanted, plan?.concurrency ?? 1, body.ip.concurrency));
    pacer.width = Math.min(Math.max(pacer.width, pacer.maxWidth), pacer.maxWidth);
    return body;
  }

  function policy(refresh = false): Promise<PublishedPolicy> {
    if (published === undefined || refresh) {
      const next = fetchPolicy();
      published = next;
      // A failed read is tried again next time, not cached.
      next.catch(() => {
        if (published === next) published = undefined;
      });
    }
    return published;
  }

  function halt(error: SluiceHaltedError): void {
    if (halted !== undefined) return;
    halted = error;
    for (const w of waiting.splice(0)) w.reject(error);
    try {
      options.onHalt?.(error);
    } catch {
      // The owner's notifier failing must not hide the halt itself.
    }
  }

  function drain(): void {
    while (active < pacer.width && waiting.length > 0) {
      active++;
      waiting.shift()!.resolve();
    }
  }

  async function acquire(): Promise<void> {
    if (halted !== undefined) throw halted;
    if (active < pacer.width && waiting.length === 0) {
      active++;
      return;
    }
    await new Promise<void>((resolve, reject) => waiting.push({ resolve, reject }));
  }

  function release(): void {
    active--;
    drain();
  }

  async function wait(ms: number): Promise<void> {
    stats.waitedMs += ms;
    await clock.sleep(ms);
  }

  /** Waits for the pace and any 429 pause, then claims the start. */
  async function gate(cost: number): Promise<void> {
    for (;;) {
      if (halted !== undefined) throw halted;
      const ms = pacer.waitMs(clock.now());
      if (ms <= 0) break;
      await wait(ms);
    }
    pacer.started(cost, clock.now());
  }

  function backoffMs(attempt: number): number {
    // Full jitter (uniform in [0, cap)): retries of many clients spread out instead of aligning.
    return Math.floor(random() * Math.min(capMs, baseMs * 2 ** attempt));
  }

  async function request(path: string, init: SluiceRequestInit = {}): Promise<Response> {
    if (halted !== undefined) throw halted;
    const method = (init.method ?? 'GET').toUpperCase();
    const target = path.startsWith('/') ? path : `/${path}`;
    let cost = 1;
    let known: PublishedPolicy | undefined;
    if (clock.now() >= policyRetryAt) {
      try {
        known = await policy();
      } catch {
        // Without the published policy: one at a time, paced by the headers alone; asked
        // again in 5 minutes, not before every request.
        policyRetryAt = clock.now() + 300_000;
      }
    }
    if (known !== undefined) {
      const match = matchRoute(known, method, target);
      if (match?.route.class === 'non-public') {
        throw new SluiceLocalRefusal(
          'SLUICE_CLIENT_NON_PUBLIC',
          `${method} ${target} is the route "${match.route.name}", which the gateway's policy marks non-public (for people in the app, not API keys): not sent`,
        );
      }
      cost = match?.route.cost ?? 1;
    }
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${options.key}`);
    const idempotent = IDEMPOTENT.has(method);
    const what = `${method} ${target}`;

    await acquire();
    try {
      for (let attempt = 0; ; attempt++) {
        await gate(cost);
        stats.requests++;
        let res: Response;
        try {
          res = await fetchImpl(`${base}${target}`, { ...init, method, headers });
        } catch (cause) {
          if (halted !== undefined) throw halted;
          if (!idempotent || attempt >= retries || init.signal?.aborted) {
            throw new SluiceClientError(
              'SLUICE_CLIENT_NETWORK',
              `${what} failed: ${String(cause)}`,
              {
                cause,
              },
            );
          }
          stats.retries++;
          await wait(backoffMs(attempt));
          continue;
        }
        pacer.observe(res.headers, res.status);
        if (Number(res.headers.get('sluice-delay-ms') ?? 0) > 0) stats.slowed++;
        const status = res.status;

        if (status === 429) {
          stats.refused++;
          const problem = await readProblem(res);
          const after = retryAfterMs(res.headers, clock.now());
          if (problem.rule !== undefined && ROUTE_REFUSALS.has(problem.rule)) {
            throw new SluiceRefusal(status, problem, what, after);
          }
          pacer.refused(after ?? defaultRetryAfter, clock.now());
          // A sluice refusal (it has a reference) never reached the API: safe to send again.
          const again = idempotent || problem.reference !== undefined;
          if (!again || attempt >= retries) throw new SluiceRefusal(status, problem, what, after);
          continue;
        }
        if (status >= 500 || status === 408) {
          if (idempotent && attempt < retries) {
            await res.body?.cancel();
            stats.retries++;
            const after = retryAfterMs(res.headers, clock.now()) ?? 0;
            await wait(Math.max(after, backoffMs(attempt)));
            continue;
          }
        } else if (status >= 400 && !pass.has(status)) {
          const error = new SluiceHaltedError(status, await readProblem(res), what);
          halt(error);
          throw error;
        }
        if (init.stream === true) return res;
        const body = NO_BODY.has(status) ? null : await res.arrayBuffer();
        return new Response(body, { status, statusText: res.statusText, headers: res.headers });
      }
    } finally {
      release();
    }
  }

  async function json<T>(path: string, init?: SluiceRequestInit): Promise<T> {
    const res = await request(path, init);
    if (!res.ok) {
      const problem: Problem = await readProblem(res);
      throw new SluiceRefusal(res.status, problem, `${init?.method ?? 'GET'} ${path}`, undefined);
    }
    return (await res.json()) as T;
  }

  const client: SluiceClient = {
    request,
    json,
    sync: (collection, o) => runSync(client, collection, o),
    exportOnce: (dataset) => runExport(client, dataset),
    policy,
    stats,
    get halted() {
      return halted;
    },
    clock,
    checkpoint,
  };
  return client;
}
