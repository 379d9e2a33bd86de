/**
 * One HTTP/1.1 exchange over a plain socket, with the request target sent byte for byte.
 * fetch and undici normalise targets (WHATWG URL turns `%2e%2e` into `..`, `\` into `/`)
 * or refuse them, which is exactly what hostile-path tests must not have done for them.
 */
import { connect } from 'node:net';

export interface RawAnswer {
  status: number;
  /** The status line and header lines as received, CRLF-separated (no final blank line). */
  head: string;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** The body as received (chunked bodies are left framed). */
  body: string;
}

/**
 * Sends `METHOD TARGET HTTP/1.1` to `origin` (`http://127.0.0.1:PORT`) and reads the
 * answer until the server closes (`connection: close`), at most `timeoutMs`.
 *
 * @example
 * const r = await rawRequest(gateway.url, 'POST', '/api/%72eports', bearer(key));
 */
export function rawRequest(
  origin: string,
  method: string,
  target: string,
  headers: Record<string, string> = {},
  timeoutMs = 10_000,
): Promise<RawAnswer> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${method} ${target}: no complete answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const rawHead = end < 0 ? text : text.slice(0, end);
      const head = rawHead.split('\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0);
      const answer: Record<string, string> = {};
      for (const line of head.slice(1)) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        answer[name] = name in answer ? `${answer[name]}, ${value}` : value;
      }
      resolve({ status, head: rawHead, headers: answer, body: end < 0 ? '' : text.slice(end + 4) });
    });
    let request = `${method} ${target} HTTP/1.1\r\nhost: ${hostname}:${port}\r\nconnection: close\r\n`;
    for (const [name, value] of Object.entries(headers)) request += `${name}: ${value}\r\n`;
    if (method === 'POST' || method === 'PUT') request += 'content-length: 0\r\n';
    socket.write(Buffer.from(`${request}\r\n`, 'latin1'));
  });
}

/**
 * Writes `bytes` to `origin` on a fresh connection and resolves with every byte received
 * until the server closes it (a reset closes it too); rejects after `timeoutMs` with what
 * came so far.
 *
 * @example
 * const answer = (await sendUntilClosed(g.url, 'GET / HTTP/1.0\r\n\r\n')).toString('latin1');
 */
export function sendUntilClosed(
  origin: string,
  bytes: string | Buffer,
  timeoutMs = 10_000,
): Promise<Buffer> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(`not closed within ${timeoutMs} ms: ${Buffer.concat(chunks).toString('latin1')}`),
      );
    }, timeoutMs);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  });
}
