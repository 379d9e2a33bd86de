/**
 * The upstream exchange on a runtime whose `undici` cannot dispatch (Bun: its built-in
 * `undici` is a shim whose Pool has no `dispatch` nor `stream`): the same contract as
 * `streamToResponse` (upstream-exchange.ts) on the runtime's own `fetch`, which keeps
 * its connections alive. The bounds are the pool's: no response head within
 * `timeoutMs` fails as `UND_ERR_HEADERS_TIMEOUT` (the proxy answers 504), a body that
 * stalls that long as `UND_ERR_BODY_TIMEOUT`, and `abort()` (the client went away)
 * cancels the request. Answers are passed on as they come: no decompression, no
 * redirects followed.
 *
 * What differs from undici, because Bun's `fetch` cannot be told otherwise
 * (oven-sh/bun#17012): a request without `User-Agent` or `Accept` reaches the upstream
 * with Bun's (`Bun/1.x`, `*` / `*`), and a request header sent several times arrives as
 * one comma-joined line (the same value for HTTP's list headers).
 *
 * @example
 * const send = fetchExchange('http://127.0.0.1:4000', 30_000);
 * const exchange = send({ path: '/x', method: 'GET', headers, body: null }, res,
 *   (status, raw) => res.writeHead(status, headersOf(raw)),
 *   (error) => (error === null ? done() : fail(error)));
 * res.once('close', () => exchange.abort());
 */
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { RawHeaders, UpstreamExchange } from './upstream-exchange.ts';

/**
 * The request as the proxy builds it (a subset of undici's dispatch options).
 *
 * @example
 * const request: ExchangeRequest = { path: '/api/items/1', method: 'GET', headers: {}, body: null };
 */
export interface ExchangeRequest {
  /** Origin-form, base path included. */
  path: string;
  method: string;
  headers: Record<string, string | string[]>;
  body: Buffer | Readable | null;
}

/**
 * One exchange: the contract of `streamToResponse` without the dispatcher.
 *
 * @example
 * const send: SendExchange = fetchExchange(origin, 30_000);
 */
export type SendExchange = (
  request: ExchangeRequest,
  res: ServerResponse,
  onHead: (statusCode: number, raw: RawHeaders) => void,
  onEnd: (error: Error | null) => void,
) => UpstreamExchange;

/** An error with undici's code, so the proxy maps it as it maps undici's own. */
function coded(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Bun's own fetch options (not in the DOM types). */
interface BunFetchInit extends RequestInit {
  decompress?: boolean;
  duplex?: 'half';
}

class FetchExchange implements UpstreamExchange {
  readonly res: ServerResponse;
  readonly onHead: (statusCode: number, raw: RawHeaders) => void;
  readonly onEnd: (error: Error | null) => void;
  readonly controller = new AbortController();
  readonly timer: ReturnType<typeof setTimeout>;
  ended = false;
  headSent = false;

  constructor(
    res: ServerResponse,
    onHead: (statusCode: number, raw: RawHeaders) => void,
    onEnd: (error: Error | null) => void,
    timeoutMs: number,
  ) {
    this.res = res;
    this.onHead = onHead;
    this.onEnd = onEnd;
    // One timer for the whole exchange, pushed back by every body chunk: no head by
    // then is a headers timeout, a body gap that long a body timeout (as undici's pool
    // with headersTimeout = bodyTimeout).
    this.timer = setTimeout(() => this.timedOut(), timeoutMs);
  }

  abort(): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    this.controller.abort();
  }

  timedOut(): void {
    const error = this.headSent
      ? coded('upstream body timeout', 'UND_ERR_BODY_TIMEOUT')
      : coded('upstream headers timeout', 'UND_ERR_HEADERS_TIMEOUT');
    this.fail(error);
    this.controller.abort(error);
  }

  fail(error: Error): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    this.onEnd(error);
  }

  async run(url: string, init: BunFetchInit): Promise<void> {
    const response = await fetch(url, init);
    if (this.ended) return;
    const raw: RawHeaders = [];
    // The Fetch standard's iteration: names lower-cased, Set-Cookie one entry per cookie.
    for (const [name, value] of response.headers) raw.push(name, value);
    this.headSent = true;
    this.onHead(response.status, raw);
    const body = response.body;
    if (body !== null) {
      const reader = body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (this.ended) return;
        if (done) break;
        this.timer.refresh();
        // A slow client: read no more from the upstream until the response drains.
        if (!this.res.write(value)) await this.drained();
        if (this.ended) return;
      }
    }
    this.ended = true;
    clearTimeout(this.timer);
    this.res.end();
    this.onEnd(null);
  }

  drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.once('drain', done);
      // The client went away instead: `abort()` has ended the exchange.
      this.res.once('close', done);
    });
  }
}

/** Flattens the proxy's headers for `fetch` (a repeated one as repeated pairs). */
function headerPairs(headers: Record<string, string | string[]>): [string, string][] {
  const pairs: [string, string][] = [];
  for (const name in headers) {
    const value = headers[name];
    if (typeof value === 'string') pairs.push([name, value]);
    else for (const v of value) pairs.push([name, v]);
  }
  return pairs;
}

/**
 * Exchanges with `origin` over the runtime's `fetch`, each bounded by `timeoutMs`
 * (headers, then every gap in the body).
 */
export function fetchExchange(origin: string, timeoutMs: number): SendExchange {
  return (request, res, onHead, onEnd) => {
    const exchange = new FetchExchange(res, onHead, onEnd, timeoutMs);
    const body = request.body;
    const init: BunFetchInit = {
      method: request.method,
      headers: headerPairs(request.headers),
      redirect: 'manual',
      decompress: false,
      signal: exchange.controller.signal,
    };
    if (body !== null) {
      init.body = body as unknown as RequestInit['body'];
      // A streamed body: fetch must be told it is sent while the answer may come.
      if (!Buffer.isBuffer(body)) {
        init.duplex = 'half';
        // A request body that fails ends the exchange.
        body.on('error', (error: Error) => {
          exchange.fail(error);
          exchange.controller.abort(error);
        });
      }
    }
    exchange.run(origin + request.path, init).catch((error: Error) => exchange.fail(error));
    return exchange;
  };
}
