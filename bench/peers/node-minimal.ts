/**
 * Reference row: the least a Node proxy can be (node:http in, an undici Pool out, no
 * limits, no header work). Its throughput is Node's own ceiling for this work on this
 * machine, measured in the same run as sluice instead of assumed.
 *
 *   node bench/peers/node-minimal.ts --upstream http://127.0.0.1:4000
 * prints `listening http://127.0.0.1:PORT` once ready.
 */
import { createServer, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

const upstream = process.argv[process.argv.indexOf('--upstream') + 1];
if (!upstream?.startsWith('http')) throw new Error('--upstream URL is required');
const pool = new Pool(upstream, { connections: 64 });
const server = createServer((req, res) => {
  const body = req.method === 'GET' || req.method === 'HEAD' ? null : req;
  pool
    .request({ method: req.method as 'GET', path: req.url ?? '/', headers: req.headers, body })
    .then(
      (up) => {
        res.writeHead(up.statusCode, up.headers as OutgoingHttpHeaders);
        up.body.pipe(res);
      },
      () => res.writeHead(502).end(),
    );
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
