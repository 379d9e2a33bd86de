/**
 * The bundled demo upstream: a small REST API that `npm start` puts sluice in front of,
 * and that integration tests use as the real upstream. Routes are listed in
 * demo-api-routes.ts (the API) and demo-test-routes.ts (test support under `/_test/`).
 */
import type { FastifyBaseLogger, FastifyError } from 'fastify';
import Fastify from 'fastify';
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import { demoApiRoutes } from './demo-api-routes.ts';
import { DemoCollection } from './demo-collection.ts';
import type { CollectionName, DemoDataOptions, DemoItem } from './demo-data.ts';
import { COLLECTIONS, generateDemoData } from './demo-data.ts';
import { sendProblem } from './demo-problem.ts';
import { demoTestRoutes, HitCounter, isHitsPath } from './demo-test-routes.ts';

export interface DemoUpstreamOptions {
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** A pino logger for request logs; none by default. */
  logger?: FastifyBaseLogger;
  /** Wall clock for `/_test/touch` and report status (default: the system clock). */
  clock?: Clock;
  /** Seed, end date and sizes of the generated data. */
  data?: DemoDataOptions;
  /** How long `POST /api/reports` takes to answer (default 50 ms). */
  reportDelayMs?: number;
  /** How long until a report is `ready` (default 1 s). */
  reportRenderMs?: number;
  /** Identity headers the gateway sets, echoed by `/api/whoami`. */
  identityHeaders?: { account: string; key: string };
}

export interface DemoUpstream {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  readonly port: number;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/**
 * Starts the demo upstream on loopback.
 *
 * @example
 * const upstream = await startDemoUpstream();
 * const res = await fetch(`${upstream.url}/api/devices?limit=2`);
 * await upstream.close();
 */
export async function startDemoUpstream(options: DemoUpstreamOptions = {}): Promise<DemoUpstream> {
  const host = options.host ?? '127.0.0.1';
  const clock = options.clock ?? systemClock;
  const data = generateDemoData(options.data);
  const collections = Object.fromEntries(
    COLLECTIONS.map((name) => [name, new DemoCollection<DemoItem>(data[name])]),
  ) as Record<CollectionName, DemoCollection<DemoItem>>;
  const hits = new HitCounter();
  const identity = options.identityHeaders ?? {
    account: 'x-sluice-account',
    key: 'x-sluice-key-id',
  };

  const app = Fastify({
    ...(options.logger === undefined ? { logger: false } : { loggerInstance: options.logger }),
    // Tests stop the upstream while the gateway may hold keep-alive or slow requests.
    forceCloseConnections: true,
  });

  app.addHook('onRequest', async (request) => {
    const path = request.url.split('?', 1)[0];
    if (!isHitsPath(path)) hits.record(path);
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      404,
      'not-found',
      `There is no route ${request.method} ${request.url.split('?', 1)[0]}.`,
    ),
  );
  app.setErrorHandler((error: FastifyError, _request, reply) => {
    const status =
      error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500;
    if (status >= 500) app.log.error({ err: error }, 'demo upstream failed');
    const detail = status >= 500 ? 'The demo API failed; see its log.' : error.message;
    return sendProblem(reply, status, status >= 500 ? 'internal' : 'bad-request', detail);
  });

  await app.register(demoApiRoutes, {
    collections,
    clock,
    reportDelayMs: options.reportDelayMs ?? 50,
    reportRenderMs: options.reportRenderMs ?? 1000,
    identityHeaders: { account: identity.account.toLowerCase(), key: identity.key.toLowerCase() },
  });
  await app.register(demoTestRoutes, { hits, clock, collections });

  await app.listen({ host, port: options.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close: () => app.close(),
  };
}
