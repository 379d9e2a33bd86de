/**
 * The floor under sluice: its own data path (node:http in, sluice's undici upstream proxy
 * out, the same server options) with no pipeline at all — no identity, no limiter, no
 * headers. The gap between this row and sluice's is what sluice's logic costs; the gap
 * between this row and nginx is what Node's HTTP stack costs before sluice does anything.
 *
 * Standalone server, run pinned by the benchmark:
 *   node bench/peers/sluice-data-path.ts --port 0 --upstream http://127.0.0.1:4000
 * prints `listening http://127.0.0.1:PORT` once ready.
 */
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { createGatewayServer } from '../../src/gateway/http-server.ts';
import { createUpstreamProxy } from '../../src/gateway/upstream-proxy.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      upstream: { type: 'string' },
    },
  });
  if (values.upstream === undefined) throw new Error('--upstream URL is required');
  const proxy = createUpstreamProxy({ url: values.upstream, headersTimeoutMs: 30_000 });
  const strip: ReadonlySet<string> = new Set();
  const server = createGatewayServer({
    handle(req, res) {
      // No pipeline, so no canonical target: the raw one, as before (a floor, not a gateway).
      const target = req.url ?? '/';
      proxy.forward(req, res, { target, set: {}, strip, responseHeaders: {}, done() {} });
    },
    upgrade: (_req, socket) => socket.destroy(),
    local: () => false,
    onError: () => {},
  });
  server.listen(Number(values.port), '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    process.stdout.write(`listening http://127.0.0.1:${port}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}

if (import.meta.main) {
  await main();
}
