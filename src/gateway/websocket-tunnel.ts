/**
 * WebSocket (and any HTTP/1.1 `Upgrade`) pass-through: after admission, the client's
 * handshake is replayed to the upstream on a fresh TCP connection and the two sockets
 * are piped together. sluice does not read frames; limits apply to the handshake.
 */
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface TunnelOptions {
  upstreamUrl: string;
  /** Origin-form target of the handshake: the pipeline's canonical one, not `req.url`. */
  target: string;
  set: Record<string, string>;
  strip: ReadonlySet<string>;
  connectTimeoutMs: number;
  /** Called once when the tunnel is over. */
  closed?: () => void;
}

/** How long a tunnel stays open once one side has ended its half. */
const HALF_CLOSE_GRACE_MS = 1_000;

const NOT_FORWARDED = new Set(['host', 'x-forwarded-for', 'forwarded']);

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
  upstream.setTimeout(options.connectTimeoutMs, () => upstream.destroy(new Error('timeout')));
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
    upstream.setTimeout(0);
    upstream.write(handshake);
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  const fail = () => {
    if (client.writable && upstream.bytesRead === 0) {
      client.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    } else client.destroy();
    upstream.destroy();
  };
  upstream.on('error', fail);
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
