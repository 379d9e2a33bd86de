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
import { type CheckpointStore } from './checkpoint.ts';
import { SluiceHaltedError } from './errors.ts';
import { type PublishedPolicy } from './published-policy.ts';
import { type SyncOptions, type SyncResult } from './sync.ts';
import { type ClientClock } from './time.ts';
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
    readonly backoff?: {
        readonly baseMs?: number;
        readonly capMs?: number;
    };
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
/**
 * Creates a client bound to one gateway and key.
 *
 * @example
 * const api = createClient({ baseUrl: 'http://127.0.0.1:8080', key: process.env.KEY!, onHalt: alert });
 * const company = await api.json('/api/companies/cmp-0001');
 */
export declare function createClient(options: ClientOptions): SluiceClient;
