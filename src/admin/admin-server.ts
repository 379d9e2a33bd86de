/**
 * The admin listener (Fastify): Prometheus metrics and the support API — look up an
 * incident by its reference, list, import and reinstate or revoke keys, list and lift
 * IP blocks, read the audit trail.
 * Every route but `/healthz` needs `Authorization: Bearer <admin token>`, compared in
 * constant time. Failed token checks are logged (IP and route, never the token) and
 * throttled per IP (core/login-throttle.ts). It listens on its own address, normally
 * loopback or a private network.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { constantTimeEqual, normalizeKeyId } from '../core/api-key.ts';
import type { Clock } from '../core/clock.ts';
import { shorten } from '../core/echo.ts';
import { isSluiceError } from '../core/errors.ts';
import { parseKeyImport } from '../core/key-import-file.ts';
import { createLoginThrottle } from '../core/login-throttle.ts';
import { parseDuration } from '../core/policy/units.ts';
import { normalizeReference } from '../core/reference.ts';
import { canonicalIp } from '../gateway/client-ip.ts';
import type { IdentityCache } from '../gateway/identity-cache.ts';
import type { GatewayLogger } from '../gateway/logger.ts';
import type { GatewayMetrics } from '../gateway/metrics.ts';
import { plainProblem, replyProblem } from '../gateway/problem.ts';
import type { RecordsContext } from '../records/context.ts';
import { liftIpBlock } from '../records/ip-blocks.ts';
import { importKeys } from '../records/key-import.ts';
import { changeKeyStatus } from '../records/key-status.ts';
import { readShadowReport } from '../records/shadow-report.ts';
import type { RecordStore } from '../store/types.ts';
import { explainIncident } from '../words/explain.ts';

/** The problem name of each client error Fastify itself raises (its message is the detail). */
const ADMIN_PROBLEMS: Readonly<Record<number, string>> = {
  400: 'bad-request',
  413: 'body-too-large',
  415: 'unsupported-media-type',
};

/** Content types `POST /admin/keys/import` reads its file from. */
const IMPORT_TYPES = ['text/csv', 'application/x-ndjson', 'application/jsonl', 'text/plain'];
/** An import file of up to 32 MiB (about 250,000 keys with their accounts). */
const IMPORT_BODY_LIMIT = 32 * 1024 * 1024;

export interface AdminServerOptions {
  token: string | undefined;
  metrics: GatewayMetrics;
  recordStore: RecordStore;
  identities: IdentityCache;
  clock: Clock;
  logger: GatewayLogger;
  /** The /metrics text; the registry's by default (worker threads: every thread's merged). */
  metricsText?: () => Promise<string>;
  /**
   * Test-only routes, registered only when given (serve: only with SLUICE_DEBUG_THREADS=1):
   * `POST /debug/threads/:lane/crash` makes a worker thread throw, to test its replacement.
   */
  debug?: { crashThread(lane: number): boolean };
}

export interface AdminServer {
  listen(host: string, port: number): Promise<string>;
  close(): Promise<void>;
  readonly fastify: FastifyInstance;
}

export async function createAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const app = Fastify({ logger: false });
  const { recordStore, clock } = options;

  const problem = (status: number, name: string, detail: string) =>
    plainProblem(name, status, detail);

  const throttle = createLoginThrottle({ clock });

  // Fastify's own answers (a body that is not JSON, an empty JSON body, a content type it
  // cannot read, a route that does not exist) are problem+json like every other answer.
  app.setErrorHandler((error: { statusCode?: number; message: string }, _req, reply) => {
    const status = error.statusCode ?? 500;
    if (status < 400 || status >= 500) {
      options.logger.error({ event: 'admin-error', error: error.message }, 'admin request failed');
      return replyProblem(reply, problem(500, 'internal', 'The admin API failed on this request.'));
    }
    return replyProblem(
      reply,
      problem(status, ADMIN_PROBLEMS[status] ?? 'bad-request', error.message),
    );
  });
  app.setNotFoundHandler((req, reply) =>
    replyProblem(
      reply,
      problem(
        404,
        'route-not-found',
        `The admin API has no route ${req.method} ${shorten(req.url.split('?')[0])}; docs/operations.md lists them.`,
      ),
    ),
  );

  app.addHook('onRequest', async (req, reply) => {
    if (req.url === '/healthz') return;
    const ip = req.ip;
    const allowed = throttle.check(ip);
    if (!allowed.allowed) {
      // The token is not checked while locked out: a right guess must not show.
      const seconds = Math.ceil(allowed.retryAfterMs / 1000);
      return replyProblem(
        reply,
        problem(
          429,
          'admin-locked-out',
          `Too many failed admin logins from this address: try again in ${seconds} seconds.`,
        ),
        { 'retry-after': String(seconds) },
      );
    }
    const header = req.headers.authorization ?? '';
    const given = header.toLowerCase().startsWith('bearer ') ? header.slice(7).trim() : '';
    if (options.token === undefined || !constantTimeEqual(given, options.token)) {
      const { failures, locked } = throttle.fail(ip);
      // The route pattern when one matched, else the path: never the query or the token.
      const route = shorten(req.routeOptions.url ?? req.url.split('?')[0]);
      options.logger.warn(
        { event: 'admin-auth-failed', ip, route, failures },
        'admin login failed',
      );
      if (locked) {
        options.logger.warn(
          { event: 'admin-locked-out', ip, failures },
          'admin logins from this IP refused for 5 minutes',
        );
      }
      return replyProblem(
        reply,
        problem(
          401,
          'admin-unauthorized',
          'The admin API needs Authorization: Bearer <admin token>.',
        ),
        { 'www-authenticate': 'Bearer realm="sluice-admin"' },
      );
    }
    throttle.succeed(ip);
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', options.metrics.registry.contentType);
    return options.metricsText?.() ?? options.metrics.registry.metrics();
  });

  const debug = options.debug;
  if (debug !== undefined) {
    app.post<{ Params: { lane: string } }>('/debug/threads/:lane/crash', async (req, reply) => {
      const lane = Number(req.params.lane);
      if (!Number.isInteger(lane) || !debug.crashThread(lane)) {
        return replyProblem(
          reply,
          problem(404, 'route-not-found', `No worker thread ${req.params.lane}.`),
        );
      }
      return { crashed: lane };
    });
  }

  app.get<{ Params: { reference: string } }>('/admin/incidents/:reference', async (req, reply) => {
    const reference = normalizeReference(req.params.reference);
    const incident = reference === undefined ? undefined : await recordStore.getIncident(reference);
    if (incident === undefined) {
      return replyProblem(
        reply,
        problem(
          404,
          'incident-not-found',
          `No incident has the reference "${req.params.reference}".`,
        ),
      );
    }
    return { incident, explanation: explainIncident(incident) };
  });

  app.get<{ Querystring: { limit?: string } }>('/admin/incidents', async (req) => {
    const limit = Math.min(1000, Math.max(1, Number(req.query.limit ?? 50) || 50));
    return { incidents: await recordStore.listIncidents({ limit }) };
  });

  app.get<{ Querystring: { since?: string } }>('/admin/reports/shadow', async (req, reply) => {
    const since = parseDuration(req.query.since ?? '24h');
    if (!since.ok || since.value <= 0) {
      const why = since.ok ? 'it must be more than 0' : since.message;
      return replyProblem(reply, problem(400, 'bad-since', `since: ${why}.`));
    }
    const now = clock.now();
    return readShadowReport(recordStore, { since: now - since.value, now });
  });

  app.get<{ Querystring: { account?: string } }>('/admin/keys', async (req) => ({
    keys: (await recordStore.listKeys(req.query.account)).map(({ hash: _hash, ...key }) => key),
  }));

  /** What the admin routes change records with: this node's cache sees a change at once. */
  const records = (): RecordsContext => ({
    store: recordStore,
    now: clock.now(),
    keyChanged: (key) => options.identities.putKey(key),
    ipBlocksChanged: () => options.identities.refresh(),
  });

  const keyRoute = (verb: 'reinstate' | 'revoke', to: 'active' | 'revoked') =>
    app.post<{ Params: { id: string }; Body?: { reason?: string; actor?: string } }>(
      `/admin/keys/:id/${verb}`,
      async (req, reply) => {
        const result = await changeKeyStatus(records(), {
          keyId: req.params.id,
          to,
          reason: req.body?.reason ?? `${verb} through the admin API`,
          actor: `admin:${req.body?.actor ?? 'api'}`,
        });
        if (result.outcome === 'not-found') {
          return replyProblem(
            reply,
            problem(404, 'key-not-found', `No API key has the id "${req.params.id}".`),
          );
        }
        const { key } = result;
        if (result.outcome === 'changed') {
          options.logger.info(
            { event: result.action, keyId: key.id, accountId: key.accountId },
            `key ${result.action}`,
          );
        }
        const { hash: _hash, ...shown } = key;
        return { key: shown, changed: result.outcome === 'changed' };
      },
    );
  keyRoute('reinstate', 'active');
  keyRoute('revoke', 'revoked');

  // The import file as the body, as `sluice keys import` reads it (CSV or JSON lines).
  app.addContentTypeParser(
    IMPORT_TYPES,
    { parseAs: 'string', bodyLimit: IMPORT_BODY_LIMIT },
    (_req, body, done) => done(null, body),
  );
  app.post<{ Querystring: { actor?: string }; Body?: unknown }>(
    '/admin/keys/import',
    { bodyLimit: IMPORT_BODY_LIMIT },
    async (req, reply) => {
      if (typeof req.body !== 'string') {
        return replyProblem(
          reply,
          problem(
            415,
            'unsupported-media-type',
            `Send the import file as the body, with Content-Type ${IMPORT_TYPES.join(', ')}.`,
          ),
        );
      }
      try {
        const result = await importKeys(
          records(),
          parseKeyImport(req.body, 'the import'),
          `admin:${req.query.actor ?? 'api'}`,
        );
        if (result.imported.length > 0 || result.accountsUpdated.length > 0) {
          await options.identities.refresh();
          options.logger.info(
            { event: 'key-import', keys: result.imported.length, unchanged: result.unchanged },
            'keys imported',
          );
        }
        return {
          ...result,
          changed: result.imported.length > 0 || result.accountsUpdated.length > 0,
        };
      } catch (error) {
        if (!isSluiceError(error) || !error.code.startsWith('SLUICE_ERR_IMPORT_')) throw error;
        const conflict = error.code === 'SLUICE_ERR_IMPORT_CONFLICT';
        return replyProblem(reply, {
          ...problem(
            conflict ? 409 : 400,
            conflict ? 'import-conflict' : 'import-invalid',
            `${error.message}.`,
          ),
          code: error.code,
          problems: error.problems.map((p) => ({ line: p.line, message: p.message })),
        });
      }
    },
  );

  app.get('/admin/ips', async () => {
    const now = clock.now();
    const blocks = await recordStore.listIpBlocks();
    return {
      blocks: blocks.map((b) => ({ ...b, active: b.until === undefined || b.until > now })),
    };
  });

  app.post<{ Params: { ip: string }; Body?: { reason?: string; actor?: string } }>(
    '/admin/ips/:ip/unblock',
    async (req, reply) => {
      const ip = canonicalIp(req.params.ip);
      if (ip === undefined) {
        return replyProblem(
          reply,
          problem(400, 'bad-ip', `"${req.params.ip}" is not an IPv4 or IPv6 address.`),
        );
      }
      const old = await liftIpBlock(records(), {
        ip,
        actor: `admin:${req.body?.actor ?? 'api'}`,
        reason: req.body?.reason ?? 'unblock-ip through the admin API',
      });
      if (old === undefined) {
        return replyProblem(
          reply,
          problem(404, 'ip-not-blocked', `IP ${ip} is not blocked; nothing changed.`),
        );
      }
      options.logger.info({ event: 'unblock-ip', ip }, 'IP unblocked');
      return { ip, lifted: old };
    },
  );

  app.get<{ Querystring: { limit?: string; key?: string } }>('/admin/audit', async (req) => {
    // A key id in any case, as the key routes and the CLI read it.
    const keyId = req.query.key === undefined ? undefined : normalizeKeyId(req.query.key);
    if (req.query.key !== undefined && keyId === undefined) return { audit: [] };
    return {
      audit: await recordStore.listAudit({
        limit: Math.min(1000, Math.max(1, Number(req.query.limit ?? 100) || 100)),
        keyId,
      }),
    };
  });

  return {
    fastify: app,
    async listen(host, port) {
      return app.listen({ host, port });
    },
    close: () => app.close(),
  };
}
