/**
 * WebSocket (and any HTTP/1.1 `Upgrade`) pass-through: after admission, the client's
 * handshake is replayed to the upstream on a fresh TCP connection and the two sockets
 * are piped together. sluice does not read frames; limits apply to the handshake.
 */
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { rawProblem, upstreamFailureProblem } from './problem.ts';

export interface TunnelOptions {
  upstreamUrl: string;
  /** Origin-form target of the handshake: the pipeline's canonical one, not `req.url`. */
  target: string;
  set: Record<string, string>;
  strip: ReadonlySet<string>;
  /**
   * How long connecting and the upstream's first bytes (its answer to the handshake) may
   * take (server.upstreamTimeout) before the client gets a 504; an open tunnel may idle.
   */
  connectTimeoutMs: number;
  /** Called once when the tunnel is over. */
  closed?: () => void;
}

/** How long a tunnel stays open once one side has ended its half. */
const HALF_CLOSE_GRACE_MS = 1_000;

const NOT_FORWARDED = new Set(['host', 'x-forwarded-for', 'forwarded']);

/** The answers when the upstream said nothing: the handshake's own HTTP, problem+json, then closed. */
const BAD_GATEWAY = rawProblem(upstreamFailureProblem('upstream-unavailable'));
const GATEWAY_TIMEOUT = rawProblem(upstreamFailureProblem('upstream-timeout'));

export function tunnelUpgrade(
  req: IncomingMessage,
  client: Duplex,
  head: Buffer,
  options: TunnelOptions,
): void {
  const url = new URL(options.upstreamUrl);
  const basePath = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  const upstream: Socket = connect({
    host: url.hostname,
    port: Number(url.port || 80),
  });
  // Until the upstream's first bytes: an upstream that accepts and never answers the
  // handshake must not hold the client (and the account's slot) for ever.
  let timedOut = false;
  upstream.setTimeout(options.connectTimeoutMs, () => {
    timedOut = true;
    upstream.destroy(new Error('timeout'));
  });
  upstream.once('data', () => upstream.setTimeout(0));
  // The client's Host when the forward stage set it (server.preserveHost), else the upstream's.
  const host = options.set.host ?? url.host;
  let handshake = `${req.method} ${basePath}${options.target} HTTP/1.1\r\nhost: ${host}\r\n`;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    if (NOT_FORWARDED.has(name) || options.strip.has(name) || name in options.set) continue;
    handshake += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
  }
  for (const name in options.set) {
    if (name !== 'host') handshake += `${name}: ${options.set[name]}\r\n`;
  }
  handshake += '\r\n';

  upstream.once('connect', () => {
    upstream.write(handshake);
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  const fail = () => {
    if (client.writable && upstream.bytesRead === 0) {
      client.end(timedOut ? GATEWAY_TIMEOUT : BAD_GATEWAY);
    } else client.destroy();
    upstream.destroy();
  };
  upstream.on('error', fail);
  // An upstream that closes without a word answered nothing either (registered before
  // the pipe's own 'end', which would just end the client's side).
  upstream.once('end', () => {
    if (upstream.bytesRead === 0) fail();
  });
  client.on('error', () => upstream.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  // WebSocket has no use for TCP half-close, and node:http accepts half-open sockets, so
  // a peer that only ends its side would otherwise hold the tunnel (and the account's
  // concurrency slot) forever. After either side ends, the rest gets a short grace to
  // flush, then both sockets go.
  let grace: NodeJS.Timeout | undefined;
  const halfClosed = () => {
    grace ??= setTimeout(() => {
      client.destroy();
      upstream.destroy();
    }, HALF_CLOSE_GRACE_MS);
    grace.unref();
  };
  client.on('end', halfClosed);
  upstream.on('end', halfClosed);
  let over = false;
  client.on('close', () => {
    if (grace !== undefined) clearTimeout(grace);
    if (!over) {
      over = true;
      options.closed?.();
    }
  });
}
