/**
 * A small real identity endpoint for delegated-identity tests (node:http on loopback):
 * `POST /identity` with `{"credential": "…"}` answers the account the test gave for that
 * credential, or 404; it counts its calls, and can be told to hold its answers (to
 * test timeouts and coalescing) or to answer 500.
 *
 * @example
 * const endpoint = await startIdentityEndpoint({ 'partner-key-1': { account: 'acme', size: 3 } });
 * endpoint.calls; // 0
 * await endpoint.close();
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface IdentityEndpoint {
  readonly url: string;
  /** Requests received so far. */
  readonly calls: number;
  /** Credentials asked about, in order. */
  readonly asked: readonly string[];
  /** `hold`: answers wait until released; `fail`: 500. */
  mode: 'answer' | 'hold' | 'fail';
  /** Answers every held request. */
  release(): void;
  close(): Promise<void>;
}

export async function startIdentityEndpoint(
  accounts: Record<string, { account: string; size?: number; plan?: string }>,
): Promise<IdentityEndpoint> {
  const asked: string[] = [];
  let held: (() => void)[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      let credential = '';
      try {
        credential = String(JSON.parse(body).credential);
      } catch {
        // answered 404 below
      }
      asked.push(credential);
      const answer = () => respond(res, endpoint.mode, accounts[credential]);
      if (endpoint.mode === 'hold') held.push(answer);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const endpoint: IdentityEndpoint = {
    url: `http://127.0.0.1:${port}/identity`,
    get calls() {
      return asked.length;
    },
    asked,
    mode: 'answer',
    release() {
      const waiting = held;
      held = [];
      for (const answer of waiting) answer();
    },
    close() {
      endpoint.release();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return endpoint;
}

function respond(
  res: ServerResponse,
  mode: IdentityEndpoint['mode'],
  account: { account: string } | undefined,
): void {
  if (res.destroyed) return;
  if (mode === 'fail') {
    res.writeHead(500).end();
    return;
  }
  if (account === undefined) {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"unknown key"}');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(account));
}
