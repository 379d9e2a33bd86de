/**
 * Forwards one admitted request to the upstream over a keep-alive undici pool and
 * streams the answer back. Bodies are streamed both ways, never buffered. Hop-by-hop
 * headers are removed; the caller's identity headers are set by sluice (the client's
 * own copies were already stripped). An unreachable upstream answers 502, a slow one
 * 504, both as problem+json; nothing here can crash the process.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Pool } from 'undici';
import { PROBLEM_CONTENT_TYPE, plainProblem } from './problem.ts';

/** RFC 9110 §7.6.1 hop-by-hop fields, plus `expect` (undici does not forward it). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'host',
]);

export interface UpstreamOptions {
  /** `http://host:port[/base]` */
  url: string;
  headersTimeoutMs: number;
  /** Connections kept to the upstream. */
  connections?: number;
}

export interface ForwardOptions {
  /** Origin-form target to request, e.g. `/api/search?q=x`: the pipeline's canonical one. */
  target: string;
  /** Headers sluice adds (identity, forwarded-for); they replace any client copy. */
  set: Record<string, string>;
  /** Lower-case names removed from the client's request (identity headers). */
  strip: ReadonlySet<string>;
  /** Headers added to the response (RateLimit, delay…). */
  responseHeaders: Record<string, string>;
  /** Called once when the exchange is over, whatever its outcome. */
  done(outcome: { status: number; error?: string }): void;
}

export interface UpstreamProxy {
  forward(req: IncomingMessage, res: ServerResponse, options: ForwardOptions): void;
  close(): Promise<void>;
}

function copyRequestHeaders(
  req: IncomingMessage,
  strip: ReadonlySet<string>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const connection = req.headers.connection;
  const listed =
    connection === undefined
      ? undefined
      : new Set(connection.split(',').map((s) => s.trim().toLowerCase()));
  for (const name in req.headers) {
    if (HOP_BY_HOP.has(name) || strip.has(name) || listed?.has(name)) continue;
    const value = req.headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function copyResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
  extra: Record<string, string>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const connection = headers.connection;
  const listed =
    typeof connection === 'string'
      ? new Set(connection.split(',').map((s) => s.trim().toLowerCase()))
      : undefined;
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || listed?.has(name)) continue;
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  for (const name in extra) out[name] = extra[name];
  return out;
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Maps an undici failure to the answer the client gets. */
function failureStatus(error: NodeJS.ErrnoException): { status: number; name: string } {
  const code = error.code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return { status: 504, name: 'upstream-timeout' };
  }
  return { status: 502, name: 'upstream-unavailable' };
}

export function createUpstreamProxy(options: UpstreamOptions): UpstreamProxy {
  const url = new URL(options.url);
  const basePath = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  const pool = new Pool(url.origin, {
    connections: options.connections ?? 256,
    headersTimeout: options.headersTimeoutMs,
    bodyTimeout: 0,
    keepAliveTimeout: 30_000,
  });

  function forward(req: IncomingMessage, res: ServerResponse, fo: ForwardOptions): void {
    const headers = copyRequestHeaders(req, fo.strip);
    for (const name in fo.set) headers[name] = fo.set[name];
    const abort = new AbortController();
    let finished = false;
    const finish = (outcome: { status: number; error?: string }) => {
      if (finished) return;
      finished = true;
      fo.done(outcome);
    };
    // A client that goes away stops the upstream exchange too.
    res.once('close', () => {
      if (!res.writableFinished) abort.abort();
      finish({ status: res.statusCode, error: res.writableFinished ? undefined : 'client-gone' });
    });
    pool.stream(
      {
        path: basePath + fo.target,
        method: req.method as 'GET',
        headers,
        body: hasBody(req) ? req : null,
        signal: abort.signal,
        opaque: res,
      },
      ({ statusCode, headers: upstreamHeaders }) => {
        res.writeHead(
          statusCode,
          copyResponseHeaders(
            upstreamHeaders as Record<string, string | string[]>,
            fo.responseHeaders,
          ),
        );
        return res;
      },
      (error) => {
        if (error === null) return finish({ status: res.statusCode });
        if (abort.signal.aborted) return;
        const failure = failureStatus(error as NodeJS.ErrnoException);
        if (res.headersSent) {
          res.destroy();
          return finish({ status: res.statusCode, error: failure.name });
        }
        const problem = plainProblem(
          failure.name,
          failure.status,
          failure.status === 504
            ? 'The upstream API did not answer in time. Try again later.'
            : 'The upstream API cannot be reached right now. Try again later.',
        );
        res.writeHead(failure.status, {
          ...fo.responseHeaders,
          'content-type': PROBLEM_CONTENT_TYPE,
        });
        res.end(JSON.stringify(problem));
        finish({ status: failure.status, error: failure.name });
      },
    );
  }

  return { forward, close: () => pool.close() };
}
