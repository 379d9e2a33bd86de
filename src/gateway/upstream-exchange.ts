/**
 * One upstream exchange streamed straight into the client's response, as undici's
 * `Pool.stream` does but with a plain dispatch handler: `stream` runs every callback in
 * an AsyncResource scope, registers `finished()` (half a dozen listeners) and a drain
 * listener on each response, and needs an AbortController per request for cancelling;
 * here a response costs one handler object, a drain listener only when the client reads
 * slower than the upstream sends, and `abort()` cancels.
 *
 * @example
 * const exchange = streamToResponse(pool, { path: '/x', method: 'GET', headers }, res,
 *   (status, headers) => res.writeHead(status, headers),
 *   (error) => (error === null ? done() : fail(error)));
 * res.once('close', () => exchange.abort());
 */
import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';

/** Cancels the exchange (the client went away); no callback follows. */
export interface UpstreamExchange {
  abort(): void;
}

/** Response headers as undici's `stream` hands them: lower-case names, repeated ones in arrays. */
export type UpstreamHeaders = Record<string, string | string[]>;

class ResponseHandler {
  readonly res: ServerResponse;
  readonly onHead: (statusCode: number, headers: UpstreamHeaders) => void;
  readonly onEnd: (error: Error | null) => void;
  cancel: ((reason?: Error) => void) | undefined = undefined;
  ended = false;
  resume: (() => void) | undefined = undefined;

  constructor(
    res: ServerResponse,
    onHead: (statusCode: number, headers: UpstreamHeaders) => void,
    onEnd: (error: Error | null) => void,
  ) {
    this.res = res;
    this.onHead = onHead;
    this.onEnd = onEnd;
  }

  abort(): void {
    if (this.ended) return;
    this.ended = true;
    this.cancel?.();
  }

  onConnect(abort: (reason?: Error) => void): void {
    // Aborted before undici got this far: cancel at once.
    if (this.ended) abort();
    else this.cancel = abort;
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    if (this.ended || statusCode < 200) return true; // 1xx: informational, not forwarded
    this.resume = resume;
    this.onHead(statusCode, parseRawHeaders(raw));
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.ended) return true;
    const more = this.res.write(chunk);
    // A slow client: undici pauses this socket until the response drains.
    if (!more && this.resume !== undefined) this.res.once('drain', this.resume);
    return more;
  }

  onComplete(): void {
    if (this.ended) return;
    this.ended = true;
    this.res.end();
    this.onEnd(null);
  }

  onError(error: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd(error);
  }
}

/** Raw header pairs as latin1 strings, names lower-cased, repeated names gathered. */
function parseRawHeaders(raw: Buffer[]): UpstreamHeaders {
  // No prototype: a header named `__proto__` is a header, not a prototype.
  const out: UpstreamHeaders = Object.create(null);
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toString('latin1').toLowerCase();
    const value = raw[i + 1].toString('latin1');
    const had = out[name];
    if (had === undefined) out[name] = value;
    else if (typeof had === 'string') out[name] = [had, value];
    else had.push(value);
  }
  return out;
}

/**
 * Sends `opts` over `dispatcher`; `onHead` gets the final status and headers (and must
 * write the head), then the body is written to `res` and ended. `onEnd` is called once:
 * `null` when the answer was passed on whole, the error otherwise (the head may have
 * been written already: `res.headersSent`). Not after `abort()`.
 */
export function streamToResponse(
  dispatcher: Dispatcher,
  opts: Dispatcher.DispatchOptions,
  res: ServerResponse,
  onHead: (statusCode: number, headers: UpstreamHeaders) => void,
  onEnd: (error: Error | null) => void,
): UpstreamExchange {
  const handler = new ResponseHandler(res, onHead, onEnd);
  const body = opts.body;
  if (body !== null && typeof body === 'object' && 'on' in body) {
    // A request body that fails ends the exchange (undici aborts it too).
    (body as NodeJS.ReadableStream).on('error', (error: Error) => handler.onError(error));
  }
  dispatcher.dispatch(opts, handler as unknown as Dispatcher.DispatchHandler);
  return handler;
}
