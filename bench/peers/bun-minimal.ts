/**
 * Reference row: a minimal proxy on Bun, the fastest other JavaScript server installable
 * from the npm registry (the `bun` package ships the binary): `Bun.serve` in, Bun's
 * `fetch` out, no limits. Run with Bun, not Node:
 *
 *   node_modules/.bin/bun bench/peers/bun-minimal.ts --upstream http://127.0.0.1:4000
 * prints `listening http://127.0.0.1:PORT` once ready.
 */

/** The part of Bun's global this file uses (the project has no Bun types). */
declare const Bun: {
  serve(options: {
    hostname: string;
    port: number;
    fetch(req: Request): Response | Promise<Response>;
  }): { port: number };
};

const upstream = process.argv[process.argv.indexOf('--upstream') + 1];
if (!upstream?.startsWith('http')) throw new Error('--upstream URL is required');
const server = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  fetch(req) {
    const url = new URL(req.url);
    const body = req.method === 'GET' || req.method === 'HEAD' ? null : req.body;
    return fetch(upstream + url.pathname + url.search, {
      method: req.method,
      headers: req.headers,
      body,
    });
  },
});
process.stdout.write(`listening http://127.0.0.1:${server.port}\n`);
process.on('SIGTERM', () => process.exit(0));
