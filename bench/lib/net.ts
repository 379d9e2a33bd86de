/**
 * Loopback helpers: a free port for servers that need one named up front (nginx,
 * sluice's `--listen`), and a readiness poll.
 *
 * @example
 *   const port = await freePort();
 *   await waitForHttp(`http://127.0.0.1:${port}/healthz`, { timeoutMs: 10_000, want: 200 });
 */
import { createServer } from 'node:net';

/** A port that was free a moment ago on 127.0.0.1 (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Polls `url` until it answers (with status `want`, if given); false after `timeoutMs`
 * or as soon as `gaveUp()` says so (e.g. the server process ended).
 */
export async function waitForHttp(
  url: string,
  opts: { timeoutMs: number; want?: number; gaveUp?: () => boolean },
): Promise<boolean> {
  const deadline = Date.now() + opts.timeoutMs;
  while (Date.now() < deadline) {
    if (opts.gaveUp?.()) return false;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (opts.want === undefined || res.status === opts.want) return true;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
