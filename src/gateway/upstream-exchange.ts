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
 *   (status, raw) => res.writeHead(status, headersOf(raw)),
 *   (error) => (error === null ? done() : fail(error)));
 * res.once('close', () => exchange.abort());
 */
import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';

/** Cancels the exchange (the client went away); no callback follows. */
export interface UpstreamExchange {
  abort(): void;
}

/**
 * Response headers as undici's parser hands them: name, value, name, value… as bytes
 * (or as strings, from `fetch`: upstream-fetch-exchange.ts). Left to the head callback to
 * read, so the headers it passes on are built once.
 */
export type RawHeaders = (Buffer | string)[];

class ResponseHandler {
  readonly res: ServerResponse;
  readonly onHead: (statusCode: number, raw: RawHeaders) => void;
  readonly onEnd: (error: Error | null) => void;
  cancel: ((reason?: Error) => void) | undefined = undefined;
  ended = false;
  resume: (() => void) | undefined = undefined;

  constructor(
    res: ServerResponse,
    onHead: (statusCode: number, raw: RawHeaders) => void,
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

  onHeaders(statusCode: number, raw: RawHeaders, resume: () => void): boolean {
    if (this.ended || statusCode < 200) return true; // 1xx: informational, not forwarded
    this.resume = resume;
    this.onHead(statusCode, raw);
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

/**
 * Sends `opts` over `dispatcher`; `onHead` gets the final status and raw headers (and must
 * write the head), then the body is written to `res` and ended. `onEnd` is called once:
 * `null` when the answer was passed on whole, the error otherwise (the head may have
 * been written already: `res.headersSent`). Not after `abort()`.
 */
export function streamToResponse(
  dispatcher: Dispatcher,
  opts: Dispatcher.DispatchOptions,
  res: ServerResponse,
  onHead: (statusCode: number, raw: RawHeaders) => void,
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
