/**
 * The upstream API every gateway is measured in front of: as fast as node:http gets,
 * keep-alive, a small JSON body for `GET /api/items/:id`, 404 for anything else.
 * Run as a child of the benchmark: `node bench/upstream.ts [--port 0]`; it prints
 * `listening http://127.0.0.1:PORT` once ready.
 *
 * @example
 *   const server = await startUpstream(0);
 *   // GET http://127.0.0.1:PORT/api/items/7 → {"id":"7","name":"item 7","price":9.99}
 *   server.close();
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const PREFIX = '/api/items/';

/** Starts the upstream on 127.0.0.1:`port` (0 = any free port). */
export function startUpstream(port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (req.method === 'GET' && url.startsWith(PREFIX)) {
      const id = url.slice(PREFIX.length).split('?')[0];
      const body = JSON.stringify({ id, name: `item ${id}`, price: 9.99 });
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
      return;
    }
    if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
      res.end('ok');
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json', 'content-length': 2 });
    res.end('{}');
  });
  // Gateways keep upstream connections open: do not close them under their feet.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } } });
  const server = await startUpstream(Number(values.port));
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`listening http://127.0.0.1:${port}\n`);
  process.on('SIGTERM', () => process.exit(0));
}
