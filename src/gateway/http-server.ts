/**
 * The gateway's listener: a plain node:http server. The data path is lean on purpose
 * (node:http in, undici out) — it is paid on every API call. A few paths belong to sluice
 * itself and never reach the upstream: `/healthz`, `/readyz`, `/.well-known/sluice`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { formatDuration } from '../core/policy/units.ts';
import { internalProblem, plainProblem, rawProblem, sendProblem } from './problem.ts';
import { framingVerdict } from './request-framing.ts';

/** Answers a sluice-owned path; returns false when the path is not one. */
export type LocalRoutes = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface GatewayServerOptions {
  handle(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  local: LocalRoutes;
  onError(error: unknown): void;
  /** How long a client may take to send the request headers (default 30 s). */
  headersTimeoutMs?: number;
  /** A request and its whole body must arrive within this (ms, default 30 s); else 408. */
  requestTimeoutMs?: number;
}

const BAD_REQUEST = rawProblem(
  plainProblem('bad-request', 400, 'The request could not be parsed as HTTP/1.1.'),
);

export function createGatewayServer(options: GatewayServerOptions): Server {
  const requestTimeout = options.requestTimeoutMs ?? 30_000;
  // Node refuses a headers timeout longer than the request timeout.
  const headersTimeout = Math.min(options.headersTimeoutMs ?? 30_000, requestTimeout);
  const timedOut = rawProblem(
    plainProblem(
      'request-timeout',
      408,
      `The request and its body did not arrive within ${formatDuration(requestTimeout)}. Send the whole request at once.`,
    ),
  );
  /** The response being answered on each socket, so a timeout never cuts into one. */
  const current = new WeakMap<Socket, ServerResponse>();
  const server = createServer(
    {
      keepAliveTimeout: 65_000,
      requestTimeout,
      headersTimeout,
      // Node checks both timeouts on this interval (30 s by default, which would let a
      // 30 s timeout take up to a minute): a pass over the open connections each second.
      // Node refuses an interval that is no whole number of ms (1.25 s / 4 = 312.5).
      connectionsCheckingInterval: Math.min(1_000, Math.max(100, Math.floor(headersTimeout / 4))),
    },
    (req, res) => {
      // RFC 9112 §9.6: after an answer that closes the connection (a badly framed request's
      // refusal), nothing more on it is acted on: a request smuggled in behind the refused
      // one would still reach the upstream. Node closes the connection once that answer is out.
      if (current.get(req.socket)?.shouldKeepAlive === false) return;
      current.set(req.socket, res);
      try {
        if (answerFraming(req, res)) return;
        if (!options.local(req, res)) options.handle(req, res);
      } catch (error) {
        // A bug must cost one request, not the process.
        options.onError(error);
        if (!res.headersSent) sendProblem(res, internalProblem());
        else res.destroy();
      }
    },
  );
  server.on('upgrade', (req, socket, head) => {
    try {
      if (framingVerdict(req) !== undefined) {
        socket.end(BAD_REQUEST);
        return;
      }
      options.upgrade(req, socket, head);
    } catch (error) {
      options.onError(error);
      socket.destroy();
    }
  });
  server.on('clientError', (error, socket) => {
    const code = (error as NodeJS.ErrnoException).code;
    // A request already answered (a 429 while its body still arrives) or an answer on
    // its way must not get a second one on the same connection: just close.
    const answering = current.get(socket as Socket);
    const started =
      answering?.headersSent === true && (!answering.writableEnded || !answering.req.complete);
    if (!socket.writable || code === 'ECONNRESET' || started) {
      socket.destroy();
      return;
    }
    // Nor is anything written for bytes sent after a whole request whose answer closes the
    // connection (§9.6 again): that answer is the last, and node closes after it.
    if (answering?.shouldKeepAlive === false && answering.req.complete) return;
    // A request or body too slow to arrive gets a 408, malformed request lines and
    // headers a 400: problem+json either way, never a crash or a hang. Closing the socket
    // closes the request's response too, which gives back everything it held.
    socket.end(code === 'ERR_HTTP_REQUEST_TIMEOUT' ? timedOut : BAD_REQUEST);
  });
  return server;
}

/** Answers a badly framed request, or `OPTIONS *`, here; true when it did. */
function answerFraming(req: IncomingMessage, res: ServerResponse): boolean {
  const verdict = framingVerdict(req);
  if (verdict === undefined) return false;
  if (verdict.kind === 'options-asterisk') {
    // About sluice itself: nothing to ask the upstream (whose answer would be a 502).
    res.writeHead(204, { 'content-length': 0 });
    res.end();
    return true;
  }
  // The rest of the request cannot be trusted to be framed as it says: close after.
  res.shouldKeepAlive = false;
  sendProblem(res, plainProblem(verdict.name, verdict.status, verdict.detail), {
    connection: 'close',
  });
  return true;
}

/** Writes a small JSON answer. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  type = 'application/json',
) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
