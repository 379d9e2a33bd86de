/**
 * The compiled policy: what the policy file becomes after validation.
 * Every duration is in milliseconds, every rate is `{ limit, periodMs }`.
 * A compiled policy is deeply frozen; a reload swaps the whole value.
 *
 * The YAML form people write is documented in docs/policy.md; `compilePolicy`
 * (compile.ts) turns one into the other.
 */

/**
 * Whether limits act (`enforce`) or only record what they would have done (`shadow`:
 * nothing is delayed or refused). The most specific setting wins: route, then plan,
 * then the policy's own (core/policy/mode.ts).
 */
export type LimitMode = 'enforce' | 'shadow';

/** `100/min` → `{ limit: 100, periodMs: 60_000 }`. */
export interface Rate {
  readonly limit: number;
  readonly periodMs: number;
}

export interface ServerSettings {
  /** Where the gateway listens, e.g. `{ host: '127.0.0.1', port: 8080 }`. */
  readonly listen: { readonly host: string; readonly port: number };
  /** Base URL of the upstream API, e.g. `http://127.0.0.1:3000`; undefined until set. */
  readonly upstream: string | undefined;
  /** Directory of the embedded database (incidents, keys, audit). */
  readonly dataDir: string;
  /** CIDRs or addresses of proxies whose X-Forwarded-For / Forwarded headers are trusted. */
  readonly trustedProxies: readonly string[];
  /**
   * How long sluice waits for the upstream's response headers before answering 504,
   * and at most between two pieces of the upstream's response body.
   */
  readonly upstreamTimeoutMs: number;
  /**
   * Whether route paths are compared with their case (`false` by default: `/API/Reports`
   * is the reports route, whatever the upstream does with case).
   */
  readonly caseSensitiveRoutes: boolean;
  /** Connections kept to the upstream (the pool every forwarded request shares). */
  readonly upstreamConnections: number;
  /** A request and its whole body must arrive within this; past it, 408 (or the socket closes). */
  readonly requestTimeoutMs: number;
  /** Request bodies up to this many bytes are read completely before the upstream is used. */
  readonly bufferBodyBytes: number;
  /** What to do with requests that carry no key, or an unknown key. */
  readonly unauthenticated: 'ip-only' | 'refuse';
  /** Requests without a known key held at the same time, all IPs together; one more is 429. */
  readonly unauthenticatedConcurrency: number;
  /** Header names sluice sets towards the upstream (and strips from clients). */
  readonly identityHeaders: { readonly account: string; readonly key: string };
  /** Whether the upstream is sent the client's `Host` (true) or its own (false). */
  readonly preserveHost: boolean;
  /**
   * The public base URL upstream URLs in Location, Content-Location and Link are moved
   * to; undefined: the origin the client used (its Host and protocol).
   */
  readonly publicUrl: string | undefined;
  /** Whether X-RateLimit-Limit, -Remaining and -Reset are sent beside the IETF headers. */
  readonly legacyRateLimitHeaders: boolean;
  /**
   * Worker threads serving requests, all enforcing one set of limits in shared memory
   * (`auto`: one per core). 1 runs no worker thread at all.
   */
  readonly threads: number | 'auto';
}

/** Per client IP: warn (never rejects) and block (429). Sliding one-minute window. */
export interface IpLimits {
  readonly warn: Rate;
  readonly block: Rate;
  /** Requests of one client IP held at the same time (delayed, queued, in the upstream); one more is 429. */
  readonly concurrency: number;
  /**
   * Addresses and CIDRs that many partners share (integration platforms, corporate NATs):
   * from these, the per-IP limits count per IP and account; keyless callers still per IP.
   */
  readonly sharedEgress: readonly string[];
}

/**
 * A plan: bounds on an account's budget. The account's rate is
 * `clamp(base + perUnit × size, min, max)` requests per `base.periodMs`,
 * where `size` is the number the operator records per account (seats, devices…).
 */
export interface Plan {
  readonly name: string;
  readonly base: Rate;
  /** Added per unit of account size, same period as `base`. */
  readonly perUnit: Rate;
  /** Same period as `base` (the compiler converts `min`, `max` and `perUnit` to it). */
  readonly min: Rate;
  /** Same period as `base`. */
  readonly max: Rate;
  /** Requests that may pass at once, before slowing starts. */
  readonly burst: number;
  /** A request is delayed at most this long to conform; past it, 429. */
  readonly maxDelayMs: number;
  /** Requests of one account being delayed at the same time; one more is 429. */
  readonly maxSlowed: number;
  /** Requests of one account in the upstream at the same time. */
  readonly concurrency: number;
  /** Requests of one account waiting for a concurrency slot; one more is 429. */
  readonly queue: number;
  /** A queued request waits at most this long for a slot; past it, 429. */
  readonly queueTimeoutMs: number;
  /** This plan's accounts' limits enforced or only shadowed; absent: the policy's `mode`. */
  readonly mode?: LimitMode;
}

export type RouteClass = 'public' | 'non-public' | 'bulk' | 'batch';

/** A condition on the query string, e.g. "no `modifiedAfter` parameter". */
export interface QueryCondition {
  readonly param: string;
  readonly present: boolean;
}

export interface RoutePolicy {
  /** Name used in incidents and metrics, e.g. `search`. */
  readonly name: string;
  /** Upper-case methods; empty means any method. */
  readonly methods: readonly string[];
  /** Path pattern as written, e.g. `/api/reports/*` or `/api/companies/:id`. */
  readonly path: string;
  readonly query: readonly QueryCondition[];
  readonly cost: number;
  readonly class: RouteClass;
  /**
   * For `bulk` routes: the dataset the export counts against (default: the route name).
   * A value starting with `:` (e.g. `:dataset`) names a segment of `path`: the dataset
   * is that segment's value in the request (the compiler checks the path has it).
   */
  readonly dataset: string;
  /** Optional per-route rate per account, in addition to the account's budget. */
  readonly rate: Rate | undefined;
  /** Requests of this route enforced or only shadowed; absent: the plan's, then the policy's. */
  readonly mode?: LimitMode;
}

export interface BulkPolicy {
  /** Exports allowed per account and dataset per period (default 1 per 30 days). */
  readonly allow: Rate;
}

/** A weekly window: from day/time to day/time in the schedule's time zone. */
export interface WeeklyWindow {
  /** 0 = Sunday … 6 = Saturday. */
  readonly fromDay: number;
  /** Minutes after local midnight. */
  readonly fromMinute: number;
  readonly toDay: number;
  readonly toMinute: number;
}

export interface OffHoursPolicy {
  /** IANA time zone, e.g. `America/New_York`. */
  readonly timeZone: string;
  readonly windows: readonly WeeklyWindow[];
  /** Batch budgets are multiplied by this inside a window. */
  readonly batchMultiplier: number;
  /** If true, `batch` routes are refused outside the windows. */
  readonly confineBatch: boolean;
}

export type SafeguardAction = 'block-ip' | 'suspend' | 'revoke';

export interface SafeguardRule {
  readonly enabled: boolean;
  /** Record what the rule would do, without doing it. */
  readonly dryRun: boolean;
  /** Observations within `window` that trigger the action. */
  readonly threshold: number;
  readonly windowMs: number;
  readonly action: SafeguardAction;
  /** Escalating durations of the action (block or suspension); revoke has none. */
  readonly durationsMs: readonly number[];
  /** After this many actions of the rule on the same subject, revoke instead. */
  readonly revokeAfter: number | undefined;
}

export interface SafeguardPolicy {
  readonly afterAuthFailure: SafeguardRule;
  readonly ignoring429: SafeguardRule;
  readonly malformedStorm: SafeguardRule;
  readonly nonPublicAutomation: SafeguardRule;
}

export interface Webhook {
  readonly url: string;
  /** HMAC-SHA256 key; the value of `secretEnv` in the environment when set there. */
  readonly secret: string;
  readonly events: readonly ('warning' | 'suspension' | 'revocation' | 'block')[];
}

/**
 * Where a request's credential (its API key) is read: a header (`X-API-Key: <key>`), the
 * `Authorization` header with a scheme (`Authorization: Bearer <key>`), or a query
 * parameter (`?api_key=<key>`). Names are lower-case; a scheme compares in any case.
 */
export type CredentialSource =
  | {
      readonly kind: 'header';
      readonly name: string;
      /** The name as the policy wrote it (`X-API-Key`), for words to clients; else `name`. */
      readonly label?: string;
    }
  | { readonly kind: 'authorization'; readonly scheme: string }
  | { readonly kind: 'query'; readonly name: string };

/** Where a known credential came from, for `stripCredential`. */
export type CredentialOrigin = 'sluice' | 'imported' | 'delegated';

/**
 * An HTTP endpoint that maps a credential sluice does not know to an account
 * (`POST url` with `{"credential": "<key>"}`; 200 `{ account, size?, plan? }`, 404 unknown).
 */
export interface DelegatePolicy {
  readonly url: string;
  /** The longest a lookup may take; past it, the endpoint counts as down. */
  readonly timeoutMs: number;
  /** How long an answer naming an account is kept. */
  readonly ttlMs: number;
  /** How long "unknown" is kept, so a repeated made-up key asks once. */
  readonly negativeTtlMs: number;
  /** Answers kept at most, known and unknown each (the oldest forgotten first). */
  readonly maxEntries: number;
  /** The endpoint down, slow or answering nonsense: 503 (`refuse`) or no key (`anonymous`). */
  readonly onFailure: 'refuse' | 'anonymous';
}

export interface IdentityPolicy {
  /** Every source is read; two different credentials in one request are refused (400). */
  readonly credentials: readonly CredentialSource[];
  /** Whether the credential is removed before forwarding, by where the key came from. */
  readonly stripCredential: Readonly<Record<CredentialOrigin, boolean>>;
  /** Unset: only keys in sluice's own store are known. */
  readonly delegate: DelegatePolicy | undefined;
}

/** How interactive (non-API-key) callers of non-public routes are recognised. */
export interface InteractiveSession {
  readonly cookie: string;
}

/** Where the limit counters live: this process's memory, or Redis shared by every node. */
export type StoreSettings = { readonly kind: 'memory' } | RedisStoreSettings;

export interface RedisStoreSettings {
  readonly kind: 'redis';
  /** One server (`redis://…` URL, kept as written) or the seed nodes of a Redis Cluster. */
  readonly redis:
    | { readonly url: string }
    | { readonly cluster: readonly { readonly host: string; readonly port: number }[] };
  /** Put before every key (default `sluice:`), so several gateways can share one Redis. */
  readonly prefix: string;
  /** Longest wait for Redis per call; past it the decision falls back (default 50 ms). */
  readonly timeoutMs: number;
  /** Redis failing: `open` lets the local insurance limiter decide, `closed` answers 503. */
  readonly onFailure: 'open' | 'closed';
  /** How long a per-account concurrency lease lasts unless renewed (default 10 s): a dead node's slots are free after it. */
  readonly leaseMs: number;
}

export interface Policy {
  readonly version: 1;
  /** Limits and safeguards enforced, or only recorded (`shadow`); plans and routes may differ. */
  readonly mode: LimitMode;
  readonly server: ServerSettings;
  readonly ip: IpLimits;
  /** Plan used for accounts whose plan is unknown or unset. */
  readonly defaultPlan: string;
  readonly plans: Readonly<Record<string, Plan>>;
  readonly routes: readonly RoutePolicy[];
  readonly bulk: BulkPolicy;
  readonly offHours: OffHoursPolicy;
  readonly safeguards: SafeguardPolicy;
  readonly webhooks: readonly Webhook[];
  readonly interactive: InteractiveSession;
  readonly identity: IdentityPolicy;
  /** Where the limit counters live (read at start). */
  readonly store: StoreSettings;
  /** Where the policy came from: a file path, or `built-in default`. */
  readonly source: string;
}
