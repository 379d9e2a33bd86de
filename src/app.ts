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
import { AccountQueues } from './core/limiter/account-queue.ts';
import type { LimitStore } from './core/limiter/types.ts';
import type { Policy } from './core/policy/types.ts';
import type { Subject } from './core/records.ts';
import { createSafeguards } from './core/safeguard/index.ts';
import { createGatewayServer } from './gateway/http-server.ts';
import { createIdentityCache } from './gateway/identity-cache.ts';
import { incidentLog } from './gateway/incident-log.ts';
import { createIncidentRecorder } from './gateway/incident-recorder.ts';
import { localRoutes } from './gateway/local-routes.ts';
import { createLogger, type GatewayLogger } from './gateway/logger.ts';
import { createMetrics, type GatewayMetrics } from './gateway/metrics.ts';
import { createPipeline, type Pipeline } from './gateway/pipeline.ts';
import { compileRuntime } from './gateway/runtime.ts';
import { createSafeguardEnforcer } from './gateway/safeguard-enforcer.ts';
import { createUpstreamProxy } from './gateway/upstream-proxy.ts';
import { tunnelUpgrade } from './gateway/websocket-tunnel.ts';
import { createWebhookNotifier, type NotifyEvent, type WebhookNotifier } from './notify/index.ts';
import type { IncidentJournal } from './store/incident-journal.ts';
import { type OpenLimitStoreHooks, openLimitStore } from './store/open-limit-store.ts';
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
  let runtime = compileRuntime(options.policy);
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger();
  const metrics = createMetrics();
  const limits =
    options.limitStore === undefined
      ? await openLimitStore(runtime.policy.store, limitStoreHooks(logger, metrics))
      : undefined;
  const limitStore = options.limitStore ?? limits!.store;
  const { recordStore } = options;
  const engine = createEngine({ policy: runtime.policy, store: limitStore, clock });
  const identities = await createIdentityCache(recordStore, {
    pollMs: options.keyPollMs ?? 1000,
    onError: (error) => {
      metrics.storeErrors.inc({ operation: 'keys' });
      logger.error({ err: error }, 'reading API keys from the store failed');
    },
  });
  const incidents = createIncidentRecorder({
    store: recordStore,
    clock,
    flushMs: options.incidentFlushMs ?? 250,
    journal: options.incidentJournal,
    ...incidentLog(logger, metrics),
  });
  const notifier =
    options.notifier ?? createWebhookNotifier({ webhooks: runtime.policy.webhooks, clock, logger });
  const safeguards = createSafeguards({ policy: runtime.policy.safeguards, clock });
  const enforcer = createSafeguardEnforcer({
    safeguards,
    recordStore,
    identities,
    incidents,
    notifier,
    metrics,
    logger,
    clock,
  });
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
    incidents,
    proxy,
    logger,
    metrics,
    runtime: () => runtime,
    queues: new AccountQueues(),
    bulkLedger: recordStore,
    ipBlock: identities.ipBlock,
    observe: enforcer.observe,
    tunnel: (t) => tunnelUpgrade(t.req, t.socket, t.head, { ...t, upstreamUrl: upstream }),
    onWarning: (warning, subject) => notifier.notify(warningEvent(warning, subject, clock)),
  });
  metrics.observeWaiting(pipeline.waiting);

  let ready = false;
  let closing = false;
  /** Upgraded (WebSocket) connections: the HTTP server no longer tracks them. */
  const tunnels = new Set<Duplex>();
  const server = createGatewayServer({
    handle: pipeline.handle,
    upgrade(req, socket, head) {
      tunnels.add(socket);
      socket.once('close', () => tunnels.delete(socket));
      pipeline.handleUpgrade(req, socket, head);
    },
    local: localRoutes({
      policy: () => runtime.policy,
      clock,
      ready: () => ready && !closing,
      degraded: limits?.degraded,
    }),
    onError: (error) => logger.error({ err: error }, 'request handling failed'),
    headersTimeoutMs: options.headersTimeoutMs,
    requestTimeoutMs: runtime.policy.server.requestTimeoutMs,
  });
  const admin =
    options.admin === undefined
      ? undefined
      : await createAdminServer({
          token: options.admin.token,
          metrics,
          recordStore,
          identities,
          clock,
          logger,
        });

  return {
    async listen() {
      const url = await listenOn(server, runtime.policy.server.listen);
      const adminUrl =
        options.admin === undefined
          ? undefined
          : await admin?.listen(options.admin.host, options.admin.port);
      ready = true;
      return { url, adminUrl };
    },
    setPolicy(next) {
      // One snapshot for the request path, swapped whole; the engine and the safeguards
      // compile their own parts of the same policy.
      runtime = compileRuntime(next);
      engine.setPolicy(next);
      safeguards.setPolicy(next.safeguards);
    },
    async close() {
      if (closing) return;
      closing = true;
      await stopServer(server, pipeline, tunnels, options.shutdownGraceMs ?? 10_000);
      await admin?.close();
      identities.close();
      await incidents.close();
      await notifier.flush(5_000);
      notifier.close();
      await proxy.close();
      await limitStore.close();
      await limits?.close();
      await recordStore.close();
      metrics.stop();
    },
  };
}

/** Logs and counts the shared limit store's faults: one line per change, not per request. */
function limitStoreHooks(logger: GatewayLogger, metrics: GatewayMetrics): OpenLimitStoreHooks {
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
async function listenOn(server: Server, { host, port }: { host: string; port: number }) {
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
    server.listen(port, host, () => {
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
