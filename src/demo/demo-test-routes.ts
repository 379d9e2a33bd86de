/**
 * Test-support routes of the demo upstream, all under `/_test/`. They are not part of
 * the demo API: they let tests see what reached the upstream and exercise the proxy
 * (streamed bodies both ways, slow answers, any status, changes for incremental sync).
 *
 * - `POST /_test/echo`            streams the request body back, same content type
 * - `POST /_test/upload-digest`   `{ bytes, sha256 }` of the request body
 * - `GET  /_test/download?bytes=N` N deterministic bytes; `x-content-sha256` gives their digest
 * - `GET  /_test/slow?ms=N`       answers `{ waitedMs }` after N ms; `x-slow-running` says how
 *                                  many slow requests were running when it came, itself
 *                                  included (the peak over all answers is the peak at the upstream)
 * - `GET  /_test/status/:code`    answers that status (`?retryAfter=S` adds Retry-After)
 * - `GET  /_test/hits`            `{ total, paths }`: requests that reached the upstream
 * - `POST /_test/hits/reset`      zeroes the counts
 * - `POST /_test/touch`           `{ collection, ids?, count?, at? }` marks items modified
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../core/clock.ts';
import type { DemoCollection } from './demo-collection.ts';
import type { CollectionName, DemoItem } from './demo-data.ts';
import { COLLECTIONS } from './demo-data.ts';
import { sendProblem } from './demo-problem.ts';
import { deterministicSha256, deterministicStream } from './deterministic-bytes.ts';

/** Counts requests per path (query string left out). */
export class HitCounter {
  #paths = new Map<string, number>();
  #total = 0;

  record(path: string): void {
    this.#total++;
    this.#paths.set(path, (this.#paths.get(path) ?? 0) + 1);
  }

  snapshot(): { total: number; paths: Record<string, number> } {
    return { total: this.#total, paths: Object.fromEntries(this.#paths) };
  }

  reset(): void {
    this.#total = 0;
    this.#paths.clear();
  }
}

/** Paths that read or reset the counts are not counted themselves. */
export function isHitsPath(path: string): boolean {
  return path === '/_test/hits' || path === '/_test/hits/reset';
}

export interface DemoTestRouteOptions {
  readonly hits: HitCounter;
  readonly clock: Clock;
  readonly collections: Readonly<Record<CollectionName, DemoCollection<DemoItem>>>;
}

const MAX_DOWNLOAD = 1024 ** 3;
const MAX_SLOW_MS = 120_000;

function intParam(raw: unknown, min: number, max: number): number | undefined {
  if (typeof raw !== 'string' || !/^\d{1,10}$/.test(raw)) return undefined;
  const n = Number(raw);
  return n >= min && n <= max ? n : undefined;
}

/** Registers the `/_test/…` routes. */
export async function demoTestRoutes(
  app: FastifyInstance,
  options: DemoTestRouteOptions,
): Promise<void> {
  const { hits, clock, collections } = options;
  /** `/_test/slow` requests being answered now. */
  let slowRunning = 0;

  // Raw bodies: this scope hands the request stream to the handler, unparsed and unbounded.
  await app.register(async (raw) => {
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

    raw.post('/_test/echo', async (request, reply) => {
      const type = request.headers['content-type'] ?? 'application/octet-stream';
      return reply.type(type).send((request.body as Readable | undefined) ?? '');
    });

    raw.post('/_test/upload-digest', async (request) => {
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of (request.body as Readable | undefined) ?? []) {
        bytes += (chunk as Buffer).length;
        hash.update(chunk as Buffer);
      }
      return { bytes, sha256: hash.digest('hex') };
    });
  });

  app.get('/_test/download', async (request, reply) => {
    const { bytes } = request.query as Record<string, unknown>;
    const size = intParam(bytes, 0, MAX_DOWNLOAD);
    if (size === undefined) {
      return sendProblem(
        reply,
        400,
        'invalid-parameter',
        `bytes must be an integer from 0 to ${MAX_DOWNLOAD}, got "${bytes}".`,
      );
    }
    return reply
      .type('application/octet-stream')
      .header('content-length', String(size))
      .header('x-content-sha256', deterministicSha256(size))
      .send(deterministicStream(size));
  });

  app.get('/_test/slow', (request, reply) => {
    const { ms } = request.query as Record<string, unknown>;
    const wait = intParam(ms, 0, MAX_SLOW_MS);
    if (wait === undefined) {
      return sendProblem(
        reply,
        400,
        'invalid-parameter',
        `ms must be an integer from 0 to ${MAX_SLOW_MS}, got "${ms}".`,
      );
    }
    slowRunning++;
    reply.header('x-slow-running', String(slowRunning));
    const timer = setTimeout(() => reply.send({ waitedMs: wait }), wait);
    // A client (or the gateway) that gives up should not leave a timer behind.
    reply.raw.on('close', () => {
      clearTimeout(timer);
      slowRunning--;
    });
    return reply;
  });

  app.get<{ Params: { code: string } }>('/_test/status/:code', async (request, reply) => {
    const code = intParam(request.params.code, 200, 599);
    if (code === undefined) {
      return sendProblem(
        reply,
        400,
        'invalid-parameter',
        `status must be an integer from 200 to 599, got "${request.params.code}".`,
      );
    }
    const { retryAfter } = request.query as Record<string, unknown>;
    if (typeof retryAfter === 'string') reply.header('retry-after', retryAfter);
    reply.code(code);
    return code === 204 || code === 304 ? reply.send() : reply.send({ status: code });
  });

  app.get('/_test/hits', async () => hits.snapshot());
  app.post('/_test/hits/reset', async () => {
    hits.reset();
    return hits.snapshot();
  });

  app.post('/_test/touch', async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const name = body.collection as CollectionName;
    if (!COLLECTIONS.includes(name)) {
      return sendProblem(
        reply,
        400,
        'invalid-parameter',
        `collection must be one of ${COLLECTIONS.join(', ')}.`,
      );
    }
    const at = typeof body.at === 'string' ? Date.parse(body.at) : clock.now();
    if (Number.isNaN(at)) {
      return sendProblem(reply, 400, 'invalid-parameter', 'at must be an ISO 8601 instant.');
    }
    const collection = collections[name];
    let ids: string[];
    if (Array.isArray(body.ids)) {
      ids = body.ids.map(String);
    } else {
      const count = typeof body.count === 'number' ? body.count : 1;
      ids = collection
        .all()
        .map((item) => item.id)
        .sort()
        .slice(0, count);
    }
    const missing = ids.find((id) => collection.get(id) === undefined);
    if (missing !== undefined) {
      return sendProblem(reply, 404, 'not-found', `There is no item "${missing}" in ${name}.`);
    }
    const modifiedAt = new Date(at).toISOString();
    const items = ids.map((id) => ({ ...collection.get(id)!, modifiedAt }));
    collection.update(items);
    return { modifiedAt, items };
  });
}
