/**
 * The demo API itself (`/api/…`): what a SaaS product behind sluice might serve.
 * Lists with incremental sync and cursor paging, items by id, an expensive search,
 * a non-public report renderer, streamed bulk exports, and `whoami`, which shows what
 * reached the upstream (identity headers, client address).
 */
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Clock } from '../core/clock.ts';
import type { DemoCollection } from './demo-collection.ts';
import { decodeCursor } from './demo-collection.ts';
import type { CollectionName, DemoItem } from './demo-data.ts';
import { COLLECTIONS } from './demo-data.ts';
import { sendProblem } from './demo-problem.ts';

export interface DemoApiOptions {
  readonly collections: Readonly<Record<CollectionName, DemoCollection<DemoItem>>>;
  readonly clock: Clock;
  /** How long `POST /api/reports` takes to answer. */
  readonly reportDelayMs: number;
  /** How long after its creation a report turns from `rendering` to `ready`. */
  readonly reportRenderMs: number;
  readonly identityHeaders: { readonly account: string; readonly key: string };
}

const SINGULAR: Record<CollectionName, string> = {
  companies: 'company',
  devices: 'device',
  jobs: 'job',
  logs: 'log entry',
};

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;
const SEARCH_MAX_LIMIT = 100;
/** Lines per chunk of an export: big enough to be cheap, small enough to stream. */
const EXPORT_BATCH = 200;
// Query strings turn an unencoded '+' into a space; accept it in the offset.
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+ -]\d{2}:\d{2}))?$/;

type Query = Record<string, string | string[] | undefined>;

/** A query parameter given at most once, or an error sentence. */
function single(query: Query, name: string): { value?: string; error?: string } {
  const value = query[name];
  if (Array.isArray(value)) return { error: `${name} must be given once, got ${value.length}.` };
  return { value };
}

/** Parses `limit`; undefined when absent. */
function parseLimit(raw: string | undefined, max: number): number | string | undefined {
  if (raw === undefined) return undefined;
  const n = /^\d{1,7}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= 1 && n <= max)) return `limit must be an integer from 1 to ${max}, got "${raw}".`;
  return n;
}

/** Parses `modifiedAfter` to a canonical ISO instant, or returns an error sentence. */
function parseInstant(raw: string): { iso?: string; error?: string } {
  const ms = ISO_INSTANT.test(raw) ? Date.parse(raw.replace(' ', '+')) : Number.NaN;
  if (Number.isNaN(ms)) {
    return {
      error: `modifiedAfter must be an ISO 8601 instant like 2025-06-01T00:00:00Z, got "${raw}".`,
    };
  }
  return { iso: new Date(ms).toISOString() };
}

function invalid(reply: FastifyReply, detail: string): FastifyReply {
  return sendProblem(reply, 400, 'invalid-parameter', detail);
}

/** Yields NDJSON in batches of lines, so the response streams instead of being built whole. */
async function* ndjson(items: readonly DemoItem[]): AsyncGenerator<string> {
  for (let i = 0; i < items.length; i += EXPORT_BATCH) {
    let chunk = '';
    for (const item of items.slice(i, i + EXPORT_BATCH)) chunk += `${JSON.stringify(item)}\n`;
    yield chunk;
  }
}

/** Registers the `/api/…` routes. */
export async function demoApiRoutes(app: FastifyInstance, options: DemoApiOptions): Promise<void> {
  const { collections, clock } = options;

  for (const name of COLLECTIONS) {
    const collection = collections[name];

    app.get(`/api/${name}`, async (request, reply) => {
      const query = request.query as Query;
      const after = single(query, 'modifiedAfter');
      const limitParam = single(query, 'limit');
      const cursorParam = single(query, 'cursor');
      const error = after.error ?? limitParam.error ?? cursorParam.error;
      if (error !== undefined) return invalid(reply, error);

      const limit = parseLimit(limitParam.value, MAX_LIMIT) ?? DEFAULT_LIMIT;
      if (typeof limit === 'string') return invalid(reply, limit);
      let modifiedAfter: string | undefined;
      if (after.value !== undefined) {
        const instant = parseInstant(after.value);
        if (instant.error !== undefined) return invalid(reply, instant.error);
        modifiedAfter = instant.iso;
      }
      const cursor = cursorParam.value === undefined ? undefined : decodeCursor(cursorParam.value);
      if (cursorParam.value !== undefined && cursor === undefined) {
        return invalid(reply, 'cursor is not one this API returned; start again without it.');
      }
      return collection.list({ modifiedAfter, cursor, limit });
    });

    app.get<{ Params: { id: string } }>(`/api/${name}/:id`, async (request, reply) => {
      const item = collection.get(request.params.id);
      if (item === undefined) {
        return sendProblem(
          reply,
          404,
          'not-found',
          `There is no ${SINGULAR[name]} with id "${request.params.id}".`,
        );
      }
      return item;
    });
  }

  // The "expensive" route: a scan of every string field of every collection.
  app.get('/api/search', async (request, reply) => {
    const query = request.query as Query;
    const q = single(query, 'q');
    const limitParam = single(query, 'limit');
    const error = q.error ?? limitParam.error;
    if (error !== undefined) return invalid(reply, error);
    const needle = q.value?.trim().toLowerCase() ?? '';
    if (needle.length === 0 || needle.length > 100) {
      return invalid(reply, 'q must be 1 to 100 characters of text to search for.');
    }
    const limit = parseLimit(limitParam.value, SEARCH_MAX_LIMIT) ?? 20;
    if (typeof limit === 'string') return invalid(reply, limit);

    const data: { collection: CollectionName; item: DemoItem }[] = [];
    let total = 0;
    for (const name of COLLECTIONS) {
      for (const item of collections[name].all()) {
        const hit = Object.entries(item).some(
          ([key, value]) =>
            key !== 'createdAt' &&
            key !== 'modifiedAt' &&
            typeof value === 'string' &&
            value.toLowerCase().includes(needle),
        );
        if (!hit) continue;
        total++;
        if (data.length < limit) data.push({ collection: name, item });
      }
    }
    return { q: q.value, total, data };
  });

  // Report rendering: slow, and non-public in the demo policy (people click it, scripts must not).
  const reports = new Map<string, { reportId: string; dataset: string; createdMs: number }>();
  app.post('/api/reports', async (request, reply) => {
    const body = (request.body ?? {}) as { dataset?: unknown };
    const dataset = body.dataset ?? 'devices';
    if (typeof dataset !== 'string' || !(COLLECTIONS as readonly string[]).includes(dataset)) {
      return invalid(reply, `dataset must be one of ${COLLECTIONS.join(', ')}.`);
    }
    await sleep(options.reportDelayMs);
    const reportId = `rpt-${String(reports.size + 1).padStart(6, '0')}`;
    reports.set(reportId, { reportId, dataset, createdMs: clock.now() });
    return reply.code(202).send({ reportId, status: 'rendering' });
  });

  app.get<{ Params: { id: string } }>('/api/reports/:id', async (request, reply) => {
    const report = reports.get(request.params.id);
    if (report === undefined) {
      return sendProblem(reply, 404, 'not-found', `There is no report "${request.params.id}".`);
    }
    const ready = clock.now() - report.createdMs >= options.reportRenderMs;
    return {
      reportId: report.reportId,
      dataset: report.dataset,
      status: ready ? 'ready' : 'rendering',
      createdAt: new Date(report.createdMs).toISOString(),
    };
  });

  app.get<{ Params: { dataset: string } }>('/api/exports/:dataset', async (request, reply) => {
    const name = request.params.dataset as CollectionName;
    if (!COLLECTIONS.includes(name)) {
      return sendProblem(
        reply,
        404,
        'not-found',
        `There is no dataset "${request.params.dataset}"; exports exist for ${COLLECTIONS.join(', ')}.`,
      );
    }
    // all() is a snapshot: items touched during the export do not tear it.
    return reply
      .type('application/x-ndjson')
      .header('x-export-count', String(collections[name].size))
      .send(Readable.from(ndjson(collections[name].all())));
  });

  app.get('/api/whoami', async (request) => {
    const header = (name: string) => {
      const value = request.headers[name];
      return Array.isArray(value) ? value.join(', ') : (value ?? null);
    };
    return {
      account: header(options.identityHeaders.account),
      keyId: header(options.identityHeaders.key),
      ip: request.socket.remoteAddress ?? null,
      forwardedFor: header('x-forwarded-for'),
      forwarded: header('forwarded'),
      headers: request.headers,
      // The target as it reached the upstream: a stripped credential is not in it.
      url: request.url,
    };
  });
}
