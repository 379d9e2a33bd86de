/**
 * The connection to the upstream is bounded by `server.upstreamTimeout` too, not only its
 * response headers: an upstream that takes the TCP connection and never completes the
 * TLS handshake (a hung process, a stuck load balancer) is answered 504 after
 * upstreamTimeout, not after undici's own 10 s connect default.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { startInProcessGateway } from '../helpers/in-process-gateway.ts';

test('an https upstream that never completes the handshake: 504 upstream-timeout after upstreamTimeout', async (t) => {
  const sockets = new Set<Socket>();
  let accepted = 0;
  // Accepts the connection, then says nothing: the TLS handshake never completes.
  const silent = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const { port } = silent.address() as AddressInfo;
  const g = await startInProcessGateway({
    upstream: `https://127.0.0.1:${port}`,
    policy: 'server:\n  upstreamTimeout: 300ms\n',
  });
  t.after(() => g.close());
  // Well under undici's 10 s default, well over 300 ms: a loaded machine cannot flake it.
  const answer = await g.call('/api/companies', { signal: AbortSignal.timeout(5_000) });
  assert.equal(answer.status, 504);
  const body = answer.json<{ type: string; detail: string }>();
  assert.match(body.type, /:upstream-timeout$/);
  assert.ok(accepted >= 1, 'the upstream took the connection');
});
