/**
 * The upstream's response headers as the client gets them, through a real gateway in
 * front of a real HTTP server that answers with every kind the gateway treats apart:
 * hop-by-hop ones (and those its `Connection` names) are dropped, repeated ones
 * (`Set-Cookie`) arrive as sent, a `Location` under the upstream is moved to the
 * gateway's public origin, and sluice's own (RateLimit) are added.
 */
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { type InProcessGateway, startInProcessGateway } from '../helpers/in-process-gateway.ts';

let upstreamUrl = '';
const upstream = createServer((_req, res) => {
  // Raw header lines, so repeated names and their case are the server's, as sent.
  res.writeHead(200, [
    ['Content-Type', 'text/plain'],
    ['Connection', 'keep-alive, X-Hop'],
    ['X-Hop', 'only-for-this-connection'],
    ['Keep-Alive', 'timeout=5'],
    ['Set-Cookie', 'a=1'],
    ['X-Kept', 'yes'],
    ['set-cookie', 'b=2'],
    ['Location', `${upstreamUrl}/items/2`],
  ]);
  res.end('ok');
});
let gw: InProcessGateway;

before(async () => {
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  gw = await startInProcessGateway({ upstream: upstreamUrl });
});
after(async () => {
  await gw?.close();
  upstream.closeAllConnections();
  await new Promise((resolve) => upstream.close(resolve));
});

/** The gateway's answer head as node:http parses it (repeated Set-Cookie kept apart). */
function head(
  path: string,
  key: string,
): Promise<{ status: number; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${gw.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('hop-by-hop and Connection-named headers are dropped; repeated ones kept; Location moved; RateLimit added', async () => {
  const { key } = gw.addKey('acme');
  const { status, headers } = await head('/api/anything', key);
  assert.equal(status, 200);
  assert.equal(headers['x-hop'], undefined, 'named by Connection: hop-by-hop');
  // The gateway's own keep-alive (node:http's), never the upstream's.
  assert.notEqual(headers['keep-alive'], 'timeout=5');
  assert.deepEqual(headers['set-cookie'], ['a=1', 'b=2']);
  assert.equal(headers['x-kept'], 'yes');
  assert.equal(headers.location, `${gw.url}/items/2`);
  assert.match(String(headers.ratelimit), /"account";r=\d+/);
});
