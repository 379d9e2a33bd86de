/**
 * A small real paginating API on node:http, as GitHub's is: list pages carry a `Link`
 * header of absolute URLs (`rel="next"`, `"prev"`, `"first"`, `"last"`) built from the
 * API's own configured base URL, not from the request; moved resources answer 301 with
 * an absolute `Location`. Every request's Host and forwarding headers are kept, for the
 * tests to read what the upstream saw.
 *
 * Routes, under `prefix` (`''`, or e.g. `/v1`):
 * - `GET /items?page=N&per_page=M`: items `1..total`, one page, with Link and Content-Location
 * - `GET /host-items?page=N`: the same, its Link built from the request's Host (as
 *   Express-based servers such as json-server build theirs)
 * - `GET /old-items`: 301 to `/items?page=1`, absolute
 * - `GET /away`: 302 to another origin
 * - `GET /bad-link`: 200 with a malformed Link and Location
 *
 * @example
 * const api = await startPagingUpstream({ total: 25 });
 * // api.url: http://127.0.0.1:PORT; api.seen: the requests it answered
 * await api.close();
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PagingUpstream {
  /** `http://127.0.0.1:PORT` (without the prefix). */
  readonly url: string;
  /** Each request answered: its target and headers. */
  readonly seen: { url: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

export async function startPagingUpstream(
  options: { total?: number; prefix?: string } = {},
): Promise<PagingUpstream> {
  const total = options.total ?? 25;
  const prefix = options.prefix ?? '';
  const seen: PagingUpstream['seen'] = [];
  let base = '';
  const server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : '';
    if (path === '/items' || path === '/host-items') {
      const perPage = Math.max(1, Number(url.searchParams.get('per_page') ?? 10));
      const last = Math.max(1, Math.ceil(total / perPage));
      const page = Math.min(Math.max(1, Number(url.searchParams.get('page') ?? 1)), last);
      const root = path === '/items' ? `${base}${prefix}` : `http://${req.headers.host}${prefix}`;
      const at = (p: number) => `${root}${path}?page=${p}&per_page=${perPage}`;
      const links = [`<${at(1)}>; rel="first"`, `<${at(last)}>; rel="last"`];
      if (page < last) links.unshift(`<${at(page + 1)}>; rel="next"`);
      if (page > 1) links.unshift(`<${at(page - 1)}>; rel="prev"`);
      const items = [];
      for (let i = (page - 1) * perPage + 1; i <= Math.min(total, page * perPage); i++) {
        items.push({ id: i });
      }
      res.writeHead(200, {
        'content-type': 'application/json',
        link: links.join(', '),
        'content-location': at(page),
      });
      res.end(JSON.stringify(items));
      return;
    }
    if (path === '/old-items') {
      res.writeHead(301, { location: `${base}${prefix}/items?page=1` });
      res.end();
      return;
    }
    if (path === '/away') {
      res.writeHead(302, { location: 'http://elsewhere.example/x' });
      res.end();
      return;
    }
    if (path === '/bad-link') {
      res.writeHead(200, {
        link: `${base}${prefix}/items; rel="next"`,
        location: `http://[${base}`,
      });
      res.end('{}');
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":"not found"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
