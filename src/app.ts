/**
 * The one wiring point: policy + clock + stores + logger in, a running gateway out.
 * Everything the gateway is made of is built here and nowhere else, so tests and the
 * CLI assemble exactly the same thing.
 *
 * @example
 * const app = await buildApp({ policy, recordStore: openSqliteRecordStore('./data') });
 * const { url } = await app.listen();
 * // …
 * await app.close();
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createAdminServer } from './admin/admin-server.ts';
import { type Clock, systemClock } from './core/clock.ts';
import type { IpWarning } from './core/decision.ts';
import { createEngine } from './core/engine.ts';
import { SluiceError } from './core/errors.ts';
import { AccountQueues, type ConcurrencyQueues } from './core/limiter/account-queue.ts';
import type { SlotCounter } from './core/limiter/held-slots.ts';
import type { LimitStore } from './core/limiter/types.ts';
import { limitMode } from './core/policy/mode.ts';
import type { Policy } from './core/policy/types.ts';
import type { Subject } from './core/records.ts';
import { createSafeguards } from './core/safeguard/index.ts';
import { MemoryTally, type SafeguardTally } from './core/safeguard/tally.ts';
import { createGatewayServer } from './gateway/http-server.ts';
import { createIdentityCache, type IdentityCache } from './gateway/identity-cache.ts';
import { incidentLog } from './gateway/incident-log.ts';
import { createIncidentRecorder, type IncidentRecorder } from './gateway/incident-recorder.ts';
import { localRoutes } from './gateway/local-routes.ts';
import { createLogger, type GatewayLogger } from './gateway/logger.ts';
import { createMetrics, type GatewayMetrics } from './gateway/metrics.ts';
import { createPipeline, type Pipeline } from './gateway/pipeline.ts';
import { compileRuntime } from './gateway/runtime.ts';
import { createSafeguardEnforcer, type SafeguardEnforcer } from './gateway/safeguard-enforcer.ts';
import { createUpstreamProxy } from './gateway/upstream-proxy.ts';
import { createUsageRoute } from './gateway/usage-route.ts';
import { tunnelUpgrade } from './gateway/websocket-tunnel.ts';
import { createWebhookNotifier, type NotifyEvent, type WebhookNotifier } from './notify/index.ts';
import type { IncidentJournal } from './store/incident-journal.ts';
import {
  type OpenLimitStore,
  type OpenLimitStoreHooks,
  openLimitStore,
} from './store/open-limit-store.ts';
import { RedisLeaseQueues } from './store/redis-lease-queues.ts';
import { RedisLeases } from './store/redis-leases.ts';
import { RedisTally } from './store/redis-tally.ts';
import type { RecordStore } from './store/types.ts';

export interface AppOptions {
  policy: Policy;
  recordStore: RecordStore;
  limitStore?: LimitStore;
  clock?: Clock;
  logger?: GatewayLogger;
  /** Admin listener (metrics, admin API); off when undefined. */
  admin?: { host: string; port: number; token: string | undefined };
  /** How often a flood's incidents are written (ms). */
  incidentFlushMs?: number;
  /** Where new incidents are written before their code is sent (see store/incident-journal.ts). */
  incidentJournal?: IncidentJournal;
  /** How often key revocations from other processes are picked up (ms). */
  keyPollMs?: number;
  /** How long in-flight requests may take to finish on close (ms). */
  shutdownGraceMs?: number;
  /** How long a client may take to send its request headers (ms; default 30 s). */
  headersTimeoutMs?: number;
  /** Webhook delivery; by default built from the policy's webhooks. */
  notifier?: WebhookNotifier;
}

export interface App {
  /** Starts listening on the policy's address; resolves to the URLs. */
  listen(): Promise<{ url: string; adminUrl: string | undefined }>;
  /** Swaps the policy atomically (limits, headers, routes) without dropping requests. */
  setPolicy(policy: Policy): void;
  /** Graceful: in-flight requests finish, waiting ones are answered, stores close. */
  close(): Promise<void>;
}

export async function buildApp(options: AppOptions): Promise<App> {
  const upstream = options.policy.server.upstream;
  // The CLI says which flag is missing (cli/serve.ts); here it is a caller's mistake.
  if (upstream === undefined) throw new TypeError('buildApp: policy.server.upstream is not set');
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger();
  const metrics = createMetrics();
  const limits =
    options.limitStore === undefined
      ? await openLimitStore(options.policy.store, limitStoreHooks(logger, metrics))
      : undefined;
  const limitStore = options.limitStore ?? limits!.store;
  const { recordStore } = options;
  const queues = concurrencyQueues(options.policy, limits, clock, metrics);
  const shared = await buildSharedServices({
    ...options,
    clock,
    logger,
    metrics,
    tally: safeguardTally(options.policy, limits, metrics),
  });
  const dataPath = buildDataPath({
    ...options,
    clock,
    logger,
    metrics,
    limitStore,
    degraded: limits?.degraded,
    identities: shared.identities,
    incidents: shared.incidents,
    queues,
    observe: shared.enforcer.observe,
    notify: (event) => shared.notifier.notify(event),
  });
  metrics.observeWaiting(dataPath.waiting);
  const admin =
    options.admin === undefined
      ? undefined
      : await createAdminServer({
          token: options.admin.token,
          metrics,
          recordStore,
          identities: shared.identities,
          clock,
          logger,
        });
  let closing = false;

  return {
    async listen() {
      const url = await dataPath.listen();
      const adminUrl =
        options.admin === undefined
          ? undefined
          : await admin?.listen(options.admin.host, options.admin.port);
      dataPath.setReady();
      return { url, adminUrl };
    },
    setPolicy(next) {
      dataPath.setPolicy(next);
      shared.setPolicy(next);
    },
    async close() {
      if (closing) return;
      closing = true;
      await dataPath.stop();
      await admin?.close();
      await shared.close();
      await dataPath.close();
      await limitStore.close();
      if (queues instanceof RedisLeaseQueues) queues.close();
      await limits?.close();
      await recordStore.close();
      metrics.stop();
    },
  };
}

/** What a gateway owns once, however many threads serve requests. */
export interface SharedServices {
  readonly identities: IdentityCache;
  readonly incidents: IncidentRecorder;
  readonly notifier: WebhookNotifier;
  readonly enforcer: SafeguardEnforcer;
  setPolicy(policy: Policy): void;
  /** Stops polling, writes the last incidents, delivers the last webhooks. */
  close(): Promise<void>;
}

/**
 * The services of the whole gateway (one of each, not one per thread): the identity
 * cache the admin API and the enforcer update, the incident recorder, the webhook queue
 * and the safeguards with their enforcer.
 *
 * @example
 * const shared = await buildSharedServices({ policy, recordStore, clock, logger, metrics });
 * shared.enforcer.observe('auth-failure', { ip: '192.0.2.1' });
 */
export async function buildSharedServices(
  options: Pick<
    AppOptions,
    'policy' | 'recordStore' | 'incidentFlushMs' | 'incidentJournal' | 'keyPollMs' | 'notifier'
  > & {
    clock: Clock;
    logger: GatewayLogger;
    metrics: GatewayMetrics;
    /** Wraps the identity cache the enforcer and the admin API update (threads: to tell every thread). */
    wrapIdentities?: (identities: IdentityCache) => IdentityCache;
    /** Where the safeguards count (Redis, shared by every node); this process when undefined. */
    tally?: SafeguardTally;
  },
): Promise<SharedServices> {
  const { clock, logger, metrics, recordStore, policy } = options;
  const cache = await createIdentityCache(recordStore, {
    pollMs: options.keyPollMs ?? 1000,
    now: () => clock.now(),
    onError: (error) => {
      metrics.storeErrors.inc({ operation: 'keys' });
      logger.error({ err: error }, 'reading API keys from the store failed');
    },
  });
  const identities = options.wrapIdentities?.(cache) ?? cache;
  const incidents = createIncidentRecorder({
    store: recordStore,
    clock,
    flushMs: options.incidentFlushMs ?? 250,
    journal: options.incidentJournal,
    ...incidentLog(logger, metrics),
  });
  const notifier =
    options.notifier ?? createWebhookNotifier({ webhooks: policy.webhooks, clock, logger });
  const safeguards = createSafeguards({ policy: policy.safeguards, clock, tally: options.tally });
  // The policy whose modes say which safeguard actions only record (swapped on reload).
  let current = policy;
  const enforcer = createSafeguardEnforcer({
    safeguards,
    recordStore,
    identities,
    incidents,
    notifier,
    metrics,
    logger,
    clock,
    shadowed: (subject) => safeguardsShadowed(current, subject, identities),
  });
  return {
    identities,
    incidents,
    notifier,
    enforcer,
    setPolicy(next) {
      current = next;
      safeguards.setPolicy(next.safeguards);
    },
    async close() {
      identities.close();
      await incidents.close();
      await notifier.flush(5_000);
      notifier.close();
    },
  };
}

/** What one thread's request path is built from. */
export interface DataPathOptions {
  policy: Policy;
  /** Bulk export allowances (the identity cache reads keys for the rest). */
  recordStore: Pick<RecordStore, 'takeBulkExport' | 'listIncidents' | 'listBulkExports'>;
  limitStore: LimitStore;
  clock: Clock;
  logger: GatewayLogger;
  metrics: GatewayMetrics;
  identities: IdentityCache;
  incidents: IncidentRecorder;
  queues: ConcurrencyQueues;
  /** Per-IP and keyless caps shared across threads; per data path when undefined. */
  heldSlots?: { ip: SlotCounter; keyless: SlotCounter };
  /** What the safeguards are told (the enforcer here, or main's through a message). */
  observe: SafeguardEnforcer['observe'];
  /** A webhook event (the notifier here, or main's through a message). */
  notify(event: NotifyEvent): void;
  shutdownGraceMs?: number;
  headersTimeoutMs?: number;
  /** Listen with SO_REUSEPORT: worker threads each listen on the same port. */
  reusePort?: boolean;
  /** Tests only: every answer carries `sluice-thread: <this>`, to tell threads apart. */
  threadTag?: string;
  /** How decisions are taken while the shared limit store (Redis) does not answer; undefined: normal. */
  degraded?: () => 'open' | 'closed' | undefined;
}

/** One thread's request path: its HTTP server, pipeline and upstream pool. */
export interface DataPath {
  /** Listens on the policy's address; resolves to the gateway's URL. */
  listen(): Promise<string>;
  /** The readiness route says ready from now on (until stopping). */
  setReady(): void;
  /** Requests delayed or queued now. */
  waiting(): number;
  setPolicy(policy: Policy): void;
  /** Stops taking requests; in-flight ones finish (up to the grace), waiting ones get 503. */
  stop(): Promise<void>;
  /** Closes the upstream pool (after `stop`). */
  close(): Promise<void>;
}

/**
 * Builds the request path of one thread: engine, pipeline, upstream proxy and HTTP
 * server, over the stores and services it is given.
 *
 * @example
 * const path = buildDataPath({ policy, recordStore, limitStore, clock, logger, metrics, identities, incidents, queues, observe, notify });
 * await path.listen();
 */
export function buildDataPath(options: DataPathOptions): DataPath {
  const upstream = options.policy.server.upstream;
  if (upstream === undefined)
    throw new TypeError('buildDataPath: policy.server.upstream is not set');
  let runtime = compileRuntime(options.policy);
  const { clock, logger, metrics, identities } = options;
  const engine = createEngine({ policy: runtime.policy, store: options.limitStore, clock });
  const proxy = createUpstreamProxy({
    url: upstream,
    headersTimeoutMs: runtime.policy.server.upstreamTimeoutMs,
    connections: runtime.policy.server.upstreamConnections,
    bufferBodyBytes: runtime.policy.server.bufferBodyBytes,
  });
  const pipeline = createPipeline({
    clock,
    engine,
    identities,
    incidents: options.incidents,
    proxy,
    logger,
    metrics,
    runtime: () => runtime,
    queues: options.queues,
    heldSlots: options.heldSlots,
    usage: createUsageRoute({ engine, records: options.recordStore, clock, logger }),
    bulkLedger: options.recordStore,
    ipBlock: identities.ipBlock,
    observe: options.observe,
    tunnel: (t) => tunnelUpgrade(t.req, t.socket, t.head, { ...t, upstreamUrl: upstream }),
    onWarning: (warning, subject) => options.notify(warningEvent(warning, subject, clock)),
  });

  let ready = false;
  let closing = false;
  /** Upgraded (WebSocket) connections: the HTTP server no longer tracks them. */
  const tunnels = new Set<Duplex>();
  const tag = options.threadTag;
  const server = createGatewayServer({
    handle:
      tag === undefined
        ? pipeline.handle
        : (req, res) => {
            res.setHeader('sluice-thread', tag);
            pipeline.handle(req, res);
          },
    upgrade(req, socket, head) {
      tunnels.add(socket);
      socket.once('close', () => tunnels.delete(socket));
      pipeline.handleUpgrade(req, socket, head);
    },
    local: localRoutes({
      policy: () => runtime.policy,
      clock,
      ready: () => ready && !closing,
      degraded: options.degraded,
    }),
    onError: (error) => logger.error({ err: error }, 'request handling failed'),
    headersTimeoutMs: options.headersTimeoutMs,
    requestTimeoutMs: runtime.policy.server.requestTimeoutMs,
  });

  return {
    listen: () => listenOn(server, runtime.policy.server.listen, options.reusePort ?? false),
    setReady() {
      ready = true;
    },
    waiting: pipeline.waiting,
    setPolicy(next) {
      // One snapshot for the request path, swapped whole; the engine compiles its own
      // parts of the same policy.
      runtime = compileRuntime(next);
      engine.setPolicy(next);
    },
    async stop() {
      if (closing) return;
      closing = true;
      await stopServer(server, pipeline, tunnels, options.shutdownGraceMs ?? 10_000);
    },
    close: () => proxy.close(),
  };
}

/**
 * An account's concurrency slots: leases in Redis, shared by every node, when the limit
 * store is Redis; this process's own queues otherwise.
 */
function concurrencyQueues(
  policy: Policy,
  limits: OpenLimitStore | undefined,
  clock: Clock,
  metrics: GatewayMetrics,
): ConcurrencyQueues {
  return redisLeaseQueues(policy, limits, clock, metrics) ?? new AccountQueues();
}

/**
 * The leases in Redis of an account's concurrency slots, when the limit store is Redis
 * (one per thread: each has its own connection), wired to be taken with decisions.
 *
 * @example
 * const queues = redisLeaseQueues(policy, limits, clock, metrics) ?? new AccountQueues();
 */
export function redisLeaseQueues(
  policy: Policy,
  limits: OpenLimitStore | undefined,
  clock: Clock,
  metrics: GatewayMetrics,
): RedisLeaseQueues | undefined {
  const store = policy.store;
  if (limits?.link === undefined || store.kind !== 'redis') return undefined;
  const queues = new RedisLeaseQueues({
    leases: new RedisLeases(limits.link, store.prefix),
    clock,
    leaseMs: store.leaseMs,
    onFallback: () => metrics.limitStoreFallbacks.inc(),
  });
  limits.redis?.takeLeasesWith(queues);
  return queues;
}

/**
 * The safeguards' counts: in Redis, shared by every node (a flood spread over nodes is
 * seen whole and acted on once), when the limit store is Redis; in this process otherwise.
 *
 * @example
 * buildSharedServices({ ...options, tally: safeguardTally(policy, limits, metrics) });
 */
export function safeguardTally(
  policy: Policy,
  limits: OpenLimitStore | undefined,
  metrics: GatewayMetrics,
): SafeguardTally | undefined {
  const store = policy.store;
  if (limits?.link === undefined || store.kind !== 'redis') return undefined;
  return new RedisTally(
    limits.link,
    store.prefix,
    new MemoryTally({ maxSubjects: 10_000, maxOffenders: 10_000 }),
    { onFallback: () => metrics.limitStoreFallbacks.inc() },
  );
}

/**
 * The safeguards' counts of a gateway with worker threads (kept by its main thread): in
 * Redis on a connection of main's own when the policy's store is Redis, so a node with
 * threads counts with every other node; undefined (main's memory) otherwise.
 *
 * @example
 * const tally = await openSafeguardTally(policy, metrics);
 * await buildSharedServices({ ...options, tally: tally?.tally });
 * await tally?.close();
 */
export async function openSafeguardTally(
  policy: Policy,
  metrics: GatewayMetrics,
): Promise<{ tally: SafeguardTally | undefined; close(): Promise<void> } | undefined> {
  if (policy.store.kind !== 'redis') return undefined;
  // The link's faults are logged by the threads' own links; main only counts fallbacks.
  const limits = await openLimitStore(policy.store, {});
  return { tally: safeguardTally(policy, limits, metrics), close: () => limits.close() };
}

/** Whether safeguard actions on `subject` only record: the policy's mode, or its account's plan's. */
function safeguardsShadowed(
  policy: Policy,
  subject: Subject,
  identities: { account(id: string): { plan: string } | undefined },
): boolean {
  const account =
    subject.accountId === undefined ? undefined : identities.account(subject.accountId);
  // An account of a plan the policy no longer has is limited by the default plan.
  const planName =
    account !== undefined && Object.hasOwn(policy.plans, account.plan)
      ? account.plan
      : policy.defaultPlan;
  const plan = account === undefined ? undefined : policy.plans[planName];
  return limitMode(policy, plan, undefined) === 'shadow';
}

/** Logs and counts the shared limit store's faults: one line per change, not per request. */
export function limitStoreHooks(
  logger: GatewayLogger,
  metrics: GatewayMetrics,
): OpenLimitStoreHooks {
  return {
    onChange(up, error) {
      metrics.limitStoreDegraded.set(up ? 0 : 1);
      if (up) logger.info({ event: 'limit-store-up' }, 'the limit store (Redis) answers again');
      else {
        logger.error(
          { event: 'limit-store-down', err: error },
          'the limit store (Redis) is not answering: decisions fall back (store.onFailure)',
        );
      }
    },
    onFallback: () => metrics.limitStoreFallbacks.inc(),
  };
}

/** The webhook event of a first IP warning in its window. */
function warningEvent(warning: IpWarning, subject: Subject, clock: Clock): NotifyEvent {
  return {
    type: 'warning',
    at: clock.now(),
    subject,
    rule: 'ip-warning',
    detail: `IP ${warning.ip} sent ${warning.count} requests within one minute; the warning threshold is ${warning.limit}.`,
    counters: { count: warning.count, limit: warning.limit },
  };
}

/** Listens on the policy's address; resolves to the gateway's URL. */
async function listenOn(
  server: Server,
  { host, port }: { host: string; port: number },
  reusePort: boolean,
) {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) =>
      reject(
        new SluiceError(
          'SLUICE_ERR_LISTEN',
          `cannot listen on ${host}:${port}: ${error.code ?? error.message}`,
          { exitCode: 2 },
        ),
      );
    server.once('error', onError);
    server.listen({ port, host, reusePort }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return `http://${formatHost(address.address)}:${address.port}`;
}

/** Stops taking requests; in-flight ones finish (up to the grace), waiting ones get 503. */
async function stopServer(
  server: Server,
  pipeline: Pipeline,
  tunnels: ReadonlySet<Duplex>,
  graceMs: number,
) {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  pipeline.drainWaiting();
  // Keep-alive connections become idle as their last response ends: close them as
  // they do, so shutdown takes as long as the slowest in-flight request, no longer.
  server.closeIdleConnections();
  const sweep = setInterval(() => server.closeIdleConnections(), 50);
  const grace = setTimeout(() => server.closeAllConnections(), graceMs);
  for (const socket of tunnels) socket.destroy();
  await closed;
  clearInterval(sweep);
  clearTimeout(grace);
}

function formatHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}
