/**
 * The built-in policy as data: what sluice does with no policy file, and the defaults
 * every policy file is merged over. It is kept as YAML, the same form people write, so
 * it doubles as a commented example. This file holds only the data: the compiled
 * default (built-in-policy.ts) goes through the same parse → compile path as a file,
 * and the compiler imports the data from here, so no import cycle runs through it.
 */
import { parse } from 'yaml';
import { deepFreeze } from './compile-context.ts';

/** The default policy, as a commented policy file. */
export const DEFAULT_POLICY_YAML = `# sluice built-in policy. Every key is optional in your own file: what you leave
# out keeps the value below. See docs/policy.md for every setting.
version: 1

# enforce: limits slow and refuse. shadow: every decision is made, counted and recorded
# (incidents marked dry run, a Sluice-Shadow header), but nothing is delayed or refused.
# A plan or a route may set its own mode; the most specific one wins (route, plan, this).
mode: enforce

server:
  listen: 127.0.0.1:8080
  # upstream: http://127.0.0.1:3000  # no default: \`sluice serve\` needs it (or --demo)
  data: ./data # embedded database: keys, incidents, audit trail
  trustedProxies: [] # X-Forwarded-For / Forwarded are honoured only from these
  upstreamTimeout: 30s # no response headers from the upstream by then: 504
  caseSensitiveRoutes: false # /API/Reports is still the reports route (true: case counts)
  upstreamConnections: 256 # connections kept to the upstream, shared by all callers
  requestTimeout: 30s # a request and its whole body must have arrived by then: 408
  bufferBody: 1MiB # bodies up to this are read whole before an upstream connection is used
  unauthenticated: ip-only # no key or an unknown key: per-IP limits only (or: refuse)
  unauthenticatedConcurrency: 64 # requests without a key held at once, all IPs together
  identityHeaders: # set towards the upstream, stripped from clients
    account: X-Sluice-Account
    key: X-Sluice-Key-Id
  preserveHost: true # the upstream is sent the client's Host (false: the upstream's own)
  # publicUrl: https://api.example.com # upstream URLs in Location/Link point here (default: the Host the client used)
  legacyRateLimitHeaders: false # true: X-RateLimit-Limit/-Remaining/-Reset too
  threads: 1 # worker threads serving requests, one set of limits (auto: one per core)

# Per client IP. Crossing warn is signalled and reported, never refused; block is 429.
ip:
  warn: 100/min
  block: 200/min
  concurrency: 32 # requests of one IP held at once (slowed, queued, in the upstream): 429
  sharedEgress: [] # CIDRs many partners share (NATs, platforms): per-IP limits count per IP and account

# An account's rate is base + perUnit x size (seats, devices...), kept within min..max.
# Over its rate, a request is slowed (up to maxDelay), not refused.
defaultPlan: standard
plans:
  standard:
    base: 60/min
    perUnit: 2/min
    min: 60/min
    max: 600/min
    burst: 20 # requests that pass at once before slowing starts
    maxDelay: 10s # slowed at most this long; past it, 429
    maxSlowed: 10 # requests slowed at the same time; one more is 429
    concurrency: 4 # requests in the upstream at the same time
    queue: 20 # requests waiting for a slot; one more is 429
    queueTimeout: 30s # waited this long for a slot: 429
  enterprise:
    base: 120/min
    perUnit: 4/min
    min: 120/min
    max: 1200/min
    burst: 40
    maxDelay: 10s
    maxSlowed: 20
    concurrency: 8
    queue: 40
    queueTimeout: 30s

# First match wins. In paths, * is one segment, ** the rest, :name a named segment.
routes:
  - name: reports # rendered reports: for people in the app, not for API keys
    path: /api/reports/**
    class: non-public
  - name: export # full downloads, counted per account and dataset
    path: /api/exports/:dataset
    class: bulk
    dataset: ":dataset"
  - name: search # an expensive search costs more than a GET by id
    method: GET
    path: /api/search
    cost: 5
  - name: full-listing # a listing without modifiedAfter is a full listing: batch work
    method: GET
    path: /api/:collection(companies|devices|jobs|logs) # the demo API's list endpoints
    query: { modifiedAfter: absent }
    class: batch
    rate: 30/min

bulk:
  allow: 1/30d # exports per account and dataset

# Off-hours: batch budgets are multiplied inside these windows (local time, DST-correct).
offHours:
  timeZone: America/New_York
  windows:
    - { from: "Sat 00:00", to: "Sun 20:00" }
    - { daily: "01:00-03:00" }
  batchMultiplier: 4
  confineBatch: false # true: batch routes are refused outside the windows

# Automatic actions against integrations that keep hammering after being told no.
safeguards:
  afterAuthFailure: # keeps calling after 401/403 or with a revoked key
    threshold: 50
    window: 1m
    action: block-ip
    durations: [1h, 1d, 1w] # each repeat escalates to the next
    dryRun: false
  ignoring429: # keeps calling while answered 429
    threshold: 100
    window: 1m
    action: suspend
    durations: [15m, 1h, 1d]
    revokeAfter: 3 # the 3rd suspension revokes the key instead
  malformedStorm: # a storm of malformed (4xx) requests
    threshold: 200
    window: 1m
    action: suspend
    durations: [15m, 1h, 1d]
  nonPublicAutomation: # API-key calls to non-public routes (each is refused)
    threshold: 3
    window: 1d
    action: revoke

# Signed (HMAC-SHA256) notifications, e.g.:
# - url: https://ops.example.com/sluice
#   secretEnv: SLUICE_WEBHOOK_SECRET
#   events: [warning, suspension, revocation, block]
webhooks: []

interactive:
  cookie: session # callers with this cookie and no API key are people in the app

# Who is calling: where the key is read, and whether the upstream sees it.
identity:
  credentials: # every source is read; two different keys in one request: 400
    - authorization: Bearer
    - header: X-API-Key
    # - query: api_key
  stripCredential: # remove the key before forwarding, by where it came from
    sluice: true # sluice keys create: the upstream has no use for it
    imported: false # sluice keys import: the upstream may check it itself
    delegated: false # known through identity.delegate: the upstream checks it
  # delegate: # ask an HTTP endpoint about keys not in sluice's store
  #   url: http://127.0.0.1:9000/identity # POST {"credential": "..."} → {account, size, plan}
  #   timeout: 2s # the longest a lookup may take
  #   ttl: 5m # an account answer is kept this long
  #   negativeTtl: 1m # an "unknown" answer is kept this long
  #   maxEntries: 10000 # answers kept, known and unknown each
  #   onFailure: refuse # endpoint down or slow: 503 (or: anonymous, per-IP limits only)
# Where the limit counters live: memory (this process), or Redis shared by every node:
# store:
#   redis: redis://10.0.0.5:6379 # or { cluster: [10.0.0.5:6379, 10.0.0.6:6379] }
#   prefix: "sluice:" # before every key, so several gateways can share one Redis
#   timeout: 50ms # longest wait for Redis per decision; past it, the fallback decides
#   onFailure: open # Redis down: the local insurance limiter decides (closed: 503)
store: memory
`;

let defaultsDoc: Record<string, unknown> | undefined;

/** The default policy as plain data (frozen: shared), the base files are merged over. */
export function defaultDocument(): Record<string, unknown> {
  defaultsDoc ??= deepFreeze(parse(DEFAULT_POLICY_YAML) as Record<string, unknown>);
  return defaultsDoc;
}
