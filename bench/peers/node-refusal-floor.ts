/**
 * Reference for the refusal rows: the least a node:http server can do to refuse (a fixed
 * 429 problem+json answer with sluice's headers, made once), the floor under any refusal
 * a Node gateway answers.
 *
 *   node bench/peers/node-refusal-floor.ts
 * prints `listening http://127.0.0.1:PORT` once ready.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const body = JSON.stringify({
  type: 'tag:sluice,2026:problem:account-rate',
  title: 'Too Many Requests',
  status: 429,
  detail:
    'Your request was denied due to a usage violation. You can track this request with support by referencing RL-7KQ4-M9XT.',
  reference: 'RL-7KQ4-M9XT',
  retryAfter: 1,
  rule: 'account-rate',
});
const head = [
  'content-type',
  'application/problem+json',
  'cache-control',
  'no-store',
  'retry-after',
  '1',
  'ratelimit-policy',
  '"account";q=100;w=60',
  'ratelimit',
  '"account";r=0;t=1',
  'content-length',
  String(Buffer.byteLength(body)),
];
const server = createServer((_req, res) => {
  res.writeHead(429, head);
  res.end(body);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
