/**
 * Forwards one admitted request to the upstream over a keep-alive undici pool and
 * streams the answer back. A request body up to `bufferBodyBytes` is read whole before
 * a pooled connection is used (as nginx's `proxy_request_buffering on`), so a client
 * sending its body slowly holds its own socket, never a connection every caller needs;
 * a larger body is streamed, and answers are always streamed. Hop-by-hop
 * headers are removed; the caller's identity and forwarding headers (and `Host`, when
 * kept) are set by sluice (the client's own copies were already stripped). The
 * upstream's absolute URLs in Location, Content-Location and Link are moved to the
 * public URL. An unreachable upstream answers 502, a slow one
 * 504, both as problem+json; nothing here can crash the process.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import { type Dispatcher, Pool } from 'undici';
import { rewriteUrlHeader, URL_HEADERS, type UrlMapping, urlMapping } from '../core/public-urls.ts';
import { sendProblem, type UpstreamFailure, upstreamFailureProblem } from './problem.ts';
import { type RawHeaders, streamToResponse, type UpstreamExchange } from './upstream-exchange.ts';
import {
  type ExchangeRequest,
  fetchExchange,
  type SendExchange,
} from './upstream-fetch-exchange.ts';

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
  /** No response headers by then: 504. Also the longest gap allowed in the response body. */
  headersTimeoutMs: number;
  /** Connections kept to the upstream. */
  connections?: number;
  /** Request bodies up to this many bytes are read whole before forwarding (default 1 MiB). */
  bufferBodyBytes?: number;
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
  /**
   * The public base URL: the upstream's absolute URLs in `Location`, `Content-Location`
   * and `Link` are moved to it (core/public-urls.ts); undefined: passed on as they are.
   */
  publicUrl?: string;
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

/** A raw header's text: bytes as latin1 (as Node writes them back), strings as they are. */
const text = (raw: Buffer | string) => (typeof raw === 'string' ? raw : raw.toString('latin1'));

/**
 * The response headers passed on, read from undici's raw pairs in one pass (names
 * lower-cased, repeated ones gathered): hop-by-hop ones dropped, URLs moved to the
 * public base, then sluice's own. `urls` is asked only when a URL header is present
 * (most answers have none), so an answer without one parses no URL.
 */
function responseHeaders(
  raw: RawHeaders,
  extra: Record<string, string>,
  urls: () => UrlMapping | undefined,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  let connection: string | undefined;
  let hasUrl = false;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = text(raw[i]).toLowerCase();
    if (HOP_BY_HOP.has(name)) {
      // Only its first value names more hop-by-hop headers (as before: a repeated
      // Connection arrived as a list, which named none).
      if (name === 'connection') connection = connection === undefined ? text(raw[i + 1]) : '';
      continue;
    }
    // Not an own property of a plain object: never a header passed on.
    if (name === '__proto__') continue;
    const value = text(raw[i + 1]);
    if (URL_HEADERS.has(name)) hasUrl = true;
    const had = out[name];
    if (had === undefined) out[name] = value;
    else if (typeof had === 'string') out[name] = [had, value];
    else had.push(value);
  }
  if (connection) {
    for (const listed of connection.split(',')) delete out[listed.trim().toLowerCase()];
  }
  const map = hasUrl ? urls() : undefined;
  if (map !== undefined) {
    for (const name of URL_HEADERS) {
      const value = out[name];
      if (value === undefined) continue;
      out[name] =
        typeof value === 'string'
          ? rewriteUrlHeader(name, value, map)
          : value.map((v) => rewriteUrlHeader(name, v, map));
    }
  }
  for (const name in extra) out[name] = extra[name];
  return out;
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Hands `then` the request body: in one buffer once it has all arrived, when it is at
 * most `limit` bytes; else the stream (what has arrived, then the rest) as soon as that
 * is known. A client that goes away midway never calls `then`: its response's 'close'
 * ends the exchange.
 */
function readBody(req: IncomingMessage, limit: number, then: (body: Buffer | Readable) => void) {
  const length = Number(req.headers['content-length']);
  if (length > limit) return then(req);
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
    if (size <= limit) return;
    // A chunked body past the bound: stream it after all, starting with what came.
    req.off('data', onData);
    req.off('end', onEnd);
    req.pause();
    const rest = new PassThrough();
    for (const c of chunks) rest.write(c);
    req.pipe(rest);
    then(rest);
  };
  const onEnd = () => then(Buffer.concat(chunks, size));
  req.on('data', onData);
  req.once('end', onEnd);
}

/** Maps an undici failure to the answer the client gets. */
function failureOf(error: NodeJS.ErrnoException): UpstreamFailure {
  const code = error.code ?? '';
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT'
    ? 'upstream-timeout'
    : 'upstream-unavailable';
}

export function createUpstreamProxy(options: UpstreamOptions): UpstreamProxy {
  const url = new URL(options.url);
  const basePath = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  const bufferLimit = options.bufferBodyBytes ?? 1_048_576;
  // undici takes a request's TLS server name from its Host header when none is given:
  // with the client's Host kept (server.preserveHost), an https upstream would be asked
  // for the client's host (a certificate that does not match, and a new connection each
  // time the Host changes). The upstream's own name, always.
  const servername = url.protocol === 'https:' ? url.hostname.replace(/^\[|\]$/g, '') : undefined;
  // Bun's built-in `undici` has no Pool.dispatch: there, the runtime's fetch.
  const fetched =
    typeof (Pool.prototype as Partial<Dispatcher>).dispatch === 'function'
      ? undefined
      : fetchExchange(url.origin, options.headersTimeoutMs);
  const exchangeWith: SendExchange =
    fetched ??
    ((request, res, onHead, onEnd) =>
      streamToResponse(pool, request as Dispatcher.DispatchOptions, res, onHead, onEnd));
  const pool = new Pool(url.origin, {
    // Nobody can own these: bodies are buffered first, and callers without a key hold at
    // most server.unauthenticatedConcurrency requests, which the policy keeps below this;
    // keyed callers are capped per account (plan concurrency) and per IP (ip.concurrency).
    connections: options.connections ?? 256,
    headersTimeout: options.headersTimeoutMs,
    // A stalled response body is cut after the same wait as missing headers.
    bodyTimeout: options.headersTimeoutMs,
    // So is a connection (TCP and TLS handshake) that does not complete: undici's own
    // default is 10 s, whatever server.upstreamTimeout says.
    connect: { timeout: options.headersTimeoutMs },
    keepAliveTimeout: 30_000,
  });

  // The mapping to the last public base asked for: one public URL (or a few Hosts) in
  // practice, so this parses two URLs once, not per answer that carries a URL header.
  let mapped: { publicUrl: string; map: UrlMapping | undefined } | undefined;
  function mappingTo(publicUrl: string | undefined): UrlMapping | undefined {
    if (publicUrl === undefined) return undefined;
    if (mapped?.publicUrl !== publicUrl) {
      mapped = { publicUrl, map: urlMapping(options.url, publicUrl) };
    }
    return mapped.map;
  }

  function forward(req: IncomingMessage, res: ServerResponse, fo: ForwardOptions): void {
    const headers = copyRequestHeaders(req, fo.strip);
    for (const name in fo.set) headers[name] = fo.set[name];
    // The client went away: `exchange` cancels the upstream side (no AbortController:
    // its signal costs listeners on every request).
    const abort = { signal: { aborted: false } };
    let exchange: UpstreamExchange | undefined;
    let finished = false;
    const finish = (outcome: { status: number; error?: string }) => {
      if (finished) return;
      finished = true;
      fo.done(outcome);
    };
    // A client that goes away stops the upstream exchange too.
    res.once('close', () => {
      if (!res.writableFinished) {
        abort.signal.aborted = true;
        exchange?.abort();
      }
      finish({ status: res.statusCode, error: res.writableFinished ? undefined : 'client-gone' });
    });
    if (hasBody(req)) readBody(req, bufferLimit, send);
    else send(null);

    function send(body: Buffer | Readable | null) {
      // The client left while its body was being read: nothing to forward.
      if (abort.signal.aborted) return;
      // `servername` is a dispatch option undici reads but its types do not list: without
      // it undici would take the TLS name from the Host header preserveHost sends.
      const dispatch: ExchangeRequest & { servername?: string } = {
        path: basePath + fo.target,
        method: req.method as 'GET',
        headers,
        body,
        servername,
      };
      exchange = exchangeWith(
        dispatch,
        res,
        (statusCode, raw) => {
          res.writeHead(
            statusCode,
            responseHeaders(raw, fo.responseHeaders, () => mappingTo(fo.publicUrl)),
          );
        },
        (error) => {
          if (error === null) return finish({ status: res.statusCode });
          if (abort.signal.aborted) return;
          const failure = failureOf(error as NodeJS.ErrnoException);
          if (res.headersSent) {
            res.destroy();
            return finish({ status: res.statusCode, error: failure });
          }
          const problem = upstreamFailureProblem(failure);
          sendProblem(res, problem, fo.responseHeaders);
          finish({ status: problem.status, error: failure });
        },
      );
    }
  }

  return { forward, close: () => (fetched === undefined ? pool.close() : Promise.resolve()) };
}
