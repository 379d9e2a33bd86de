/**
 * The gateway's listener: a plain node:http server. The data path is lean on purpose
 * (node:http in, undici out) — it is paid on every API call. A few paths belong to sluice
 * itself and never reach the upstream: `/healthz`, `/readyz`, `/.well-known/sluice`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { PROBLEM_CONTENT_TYPE, plainProblem } from './problem.ts';
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
}

const BAD_REQUEST_BODY = JSON.stringify(
  plainProblem('bad-request', 400, 'The request could not be parsed as HTTP/1.1.'),
);
const BAD_REQUEST = `HTTP/1.1 400 Bad Request\r\ncontent-type: ${PROBLEM_CONTENT_TYPE}\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(BAD_REQUEST_BODY)}\r\n\r\n${BAD_REQUEST_BODY}`;

export function createGatewayServer(options: GatewayServerOptions): Server {
  const headersTimeout = options.headersTimeoutMs ?? 30_000;
  const server = createServer(
    {
      keepAliveTimeout: 65_000,
      requestTimeout: 0,
      headersTimeout,
      // Node checks the timeout at this interval: its default (30 s) would let slow
      // headers hold a connection for up to twice the timeout.
      connectionsCheckingInterval: Math.max(100, Math.min(5_000, Math.round(headersTimeout / 3))),
    },
    (req, res) => {
      try {
        if (answerFraming(req, res)) return;
        if (!options.local(req, res)) options.handle(req, res);
      } catch (error) {
        // A bug must cost one request, not the process.
        options.onError(error);
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': PROBLEM_CONTENT_TYPE });
          res.end(
            JSON.stringify(plainProblem('internal', 500, 'sluice failed to handle this request.')),
          );
        } else res.destroy();
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
    // Malformed request lines and headers get a plain 400, not a crash or a hang.
    if (socket.writable && (error as NodeJS.ErrnoException).code !== 'ECONNRESET') {
      socket.end(BAD_REQUEST);
    } else socket.destroy();
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
  const body = JSON.stringify(plainProblem(verdict.name, verdict.status, verdict.detail));
  // The rest of the request cannot be trusted to be framed as it says: close after.
  res.shouldKeepAlive = false;
  res.writeHead(verdict.status, {
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': Buffer.byteLength(body),
    connection: 'close',
  });
  res.end(body);
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
