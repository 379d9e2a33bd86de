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
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createAdminServer } from './admin/admin-server.ts';
import { type Clock, systemClock } from './core/clock.ts';
import { createEngine } from './core/engine.ts';
import { SluiceError } from './core/errors.ts';
import { AccountQueues } from './core/limiter/account-queue.ts';
import type { LimitStore } from './core/limiter/types.ts';
import type { Policy } from './core/policy/types.ts';
import { publishPolicy } from './core/publish-policy.ts';
import { compileRoutes } from './core/routes/route-matcher.ts';
import { createSafeguards } from './core/safeguard/index.ts';
import { trustedProxies } from './gateway/client-ip.ts';
import { createGatewayServer, sendJson } from './gateway/http-server.ts';
import { createIdentityCache } from './gateway/identity-cache.ts';
import { createIncidentRecorder } from './gateway/incident-recorder.ts';
import { createLogger, type GatewayLogger } from './gateway/logger.ts';
import { createMetrics } from './gateway/metrics.ts';
import { createPipeline, identityStrip } from './gateway/pipeline.ts';
import { createSafeguardEnforcer } from './gateway/safeguard-enforcer.ts';
import { createUpstreamProxy } from './gateway/upstream-proxy.ts';
import { tunnelUpgrade } from './gateway/websocket-tunnel.ts';
import { createWebhookNotifier, type WebhookNotifier } from './notify/index.ts';
import type { IncidentJournal } from './store/incident-journal.ts';
import { MemoryLimitStore } from './store/memory-limit-store.ts';
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
  let policy = options.policy;
  const upstream = policy.server.upstream;
  if (upstream === undefined) {
    throw new SluiceError(
      'SLUICE_ERR_CLI_USAGE',
      'no upstream: give --upstream URL or server.upstream in the policy',
      {
        exitCode: 2,
      },
    );
  }
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger();
  const metrics = createMetrics();
  const limitStore = options.limitStore ?? new MemoryLimitStore();
  const recordStore = options.recordStore;
  const engine = createEngine({ policy, store: limitStore, clock });
  const queues = new AccountQueues();
  let trusted = trustedProxies(policy.server.trustedProxies);
  let ready = false;
  /** Upgraded (WebSocket) connections: the HTTP server no longer tracks them. */
  const tunnels = new Set<Duplex>();
  let closing = false;

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
    onJournalError: (error) => {
      metrics.storeErrors.inc({ operation: 'journal' });
      logger.error(
        { err: error },
        'writing the incident journal failed; new incidents are saved by the next flush only',
      );
    },
    onError: (error, lost) => {
      metrics.storeErrors.inc({ operation: 'incidents' });
      logger.error(
        { err: error, incidents: lost.length },
        'writing incidents failed; kept for the next try',
      );
    },
    onNew: (i) =>
      logger.info(
        {
          event: 'refused',
          reference: i.reference,
          rule: i.rule,
          ...i.subject,
          counters: i.counters,
        },
        'request refused: new incident',
      ),
    onFlushed: (batch) => {
      metrics.incidentsWritten.inc(batch.length);
      for (const i of batch) {
        if (i.count > 1) {
          logger.info(
            {
              event: 'incident',
              reference: i.reference,
              rule: i.rule,
              count: i.count,
              ...i.subject,
            },
            'requests refused (incident updated)',
          );
        }
      }
    },
  });
  let routes = compileRoutes(policy.routes, { caseSensitive: policy.server.caseSensitiveRoutes });
  const notifier =
    options.notifier ?? createWebhookNotifier({ webhooks: policy.webhooks, clock, logger });
  const safeguards = createSafeguards({ policy: policy.safeguards, clock });
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
    headersTimeoutMs: policy.server.upstreamTimeoutMs,
    connections: policy.server.upstreamConnections,
    bufferBodyBytes: policy.server.bufferBodyBytes,
  });
  const pipeline = createPipeline({
    policy: () => policy,
    trusted: () => trusted,
    clock,
    engine,
    queues,
    identities,
    incidents,
    proxy,
    logger,
    metrics,
    bulkLedger: recordStore,
    routes: () => routes,
    ipBlock: identities.ipBlock,
    observe: enforcer.observe,
    tunnel(req, target, socket, head, set, closed) {
      tunnelUpgrade(req, socket, head, {
        upstreamUrl: upstream,
        target,
        set,
        strip: identityStrip(policy),
        connectTimeoutMs: policy.server.upstreamTimeoutMs,
        closed,
      });
    },
    onWarning(warning, subject) {
      notifier.notify({
        type: 'warning',
        at: clock.now(),
        subject,
        rule: 'ip-warning',
        detail: `IP ${warning.ip} sent ${warning.count} requests within one minute; the warning threshold is ${warning.limit}.`,
        counters: { count: warning.count, limit: warning.limit },
      });
    },
  });
  metrics.observeWaiting(pipeline.waiting);

  const server = createGatewayServer({
    handle: pipeline.handle,
    upgrade(req, socket, head) {
      tunnels.add(socket);
      socket.once('close', () => tunnels.delete(socket));
      pipeline.handleUpgrade(req, socket, head);
    },
    local(req, res) {
      const url = req.url ?? '/';
      if (url === '/healthz') {
        sendJson(res, 200, { status: 'ok' });
        return true;
      }
      if (url === '/.well-known/sluice') {
        sendJson(res, 200, publishPolicy(policy, clock.now()));
        return true;
      }
      if (url === '/readyz') {
        sendJson(res, ready && !closing ? 200 : 503, {
          status: ready && !closing ? 'ready' : 'not ready',
        });
        return true;
      }
      return false;
    },
    onError: (error) => logger.error({ err: error }, 'request handling failed'),
    headersTimeoutMs: options.headersTimeoutMs,
    requestTimeoutMs: policy.server.requestTimeoutMs,
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

  async function listen() {
    const { host, port } = policy.server.listen;
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
    let adminUrl: string | undefined;
    if (admin !== undefined && options.admin !== undefined) {
      adminUrl = await admin.listen(options.admin.host, options.admin.port);
    }
    ready = true;
    return { url: `http://${formatHost(address.address)}:${address.port}`, adminUrl };
  }

  async function close() {
    if (closing) return;
    closing = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    pipeline.drainWaiting();
    // Keep-alive connections become idle as their last response ends: close them as
    // they do, so shutdown takes as long as the slowest in-flight request, no longer.
    server.closeIdleConnections();
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    const grace = setTimeout(() => server.closeAllConnections(), options.shutdownGraceMs ?? 10_000);
    for (const socket of tunnels) socket.destroy();
    await closed;
    clearInterval(sweep);
    clearTimeout(grace);
    await admin?.close();
    identities.close();
    await incidents.close();
    await notifier.flush(5_000);
    notifier.close();
    await proxy.close();
    await limitStore.close();
    await recordStore.close();
  }

  return {
    listen,
    setPolicy(next) {
      policy = next;
      trusted = trustedProxies(next.server.trustedProxies);
      engine.setPolicy(next);
      safeguards.setPolicy(next.safeguards);
      routes = compileRoutes(next.routes, { caseSensitive: next.server.caseSensitiveRoutes });
    },
    close,
  };
}

function formatHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}
