/**
 * Forwarding as an upstream with absolute URLs needs it (issue 14, item 3): a real
 * paginating upstream (test/helpers/paging-upstream.ts, Link headers as GitHub's) read
 * page by page through the real gateway (in-process) by a real HTTP client following
 * `rel="next"` never leaves the gateway; redirects and Content-Location come back on
 * the public origin (the client's, a trusted proxy's, or `server.publicUrl`); the
 * upstream is sent the client's Host and sluice's own forwarding headers; and
 * `preserveHost: false` sends the upstream's own Host as before.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { request } from 'undici';
import { type InProcessGateway, startInProcessGateway } from '../helpers/in-process-gateway.ts';
import { type PagingUpstream, startPagingUpstream } from '../helpers/paging-upstream.ts';

let api: PagingUpstream;
let gw: InProcessGateway | undefined;

before(async () => {
  api = await startPagingUpstream({ total: 23, prefix: '/v1' });
});
after(() => api.close());
afterEach(async () => {
  await gw?.close();
  gw = undefined;
  api.seen.length = 0;
});

async function start(policy = '', upstream = `${api.url}/v1`): Promise<InProcessGateway> {
  gw = await startInProcessGateway({ upstream, policy });
  return gw;
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const body = await res.body.text();
  const header = (name: string) => {
    const v = res.headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  };
  return { status: res.statusCode, header, body };
}

function nextLink(link: string | undefined): string | undefined {
  return /<([^>]*)>;\s*rel="next"/.exec(link ?? '')?.[1];
}

test('a client following Link rel="next" reads every page through the gateway, never around it', async () => {
  const g = await start();
  const origins = new Set<string>();
  const ids: number[] = [];
  let url: string | undefined = `${g.url}/items?per_page=5`;
  for (let pages = 0; url !== undefined; pages++) {
    assert.ok(pages < 10, 'the pages end');
    origins.add(new URL(url).origin);
    const page = await get(url);
    assert.equal(page.status, 200);
    ids.push(...(JSON.parse(page.body) as { id: number }[]).map((i) => i.id));
    for (const [, target] of (page.header('link') ?? '').matchAll(/<([^>]*)>/g)) {
      assert.ok(target.startsWith(`${g.url}/items?`), `${target} is on the gateway`);
    }
    assert.match(page.header('content-location') ?? '', new RegExp(`^${g.url}/items\\?page=`));
    url = nextLink(page.header('link'));
  }
  assert.deepEqual([...origins], [g.url]);
  assert.deepEqual(
    ids,
    Array.from({ length: 23 }, (_, i) => i + 1),
  );
  assert.equal(api.seen.length, 5, 'each page went through sluice to the upstream once');
});

test('the upstream gets the client Host and sluice-set X-Forwarded-* and Forwarded', async () => {
  const g = await start();
  const host = new URL(g.url).host;
  await get(`${g.url}/items`, {
    'x-forwarded-host': 'spoofed.example',
    'x-forwarded-proto': 'https',
    forwarded: 'for=192.0.2.1;host=spoofed.example',
  });
  const { headers } = api.seen[0];
  assert.equal(headers.host, host);
  assert.equal(headers['x-forwarded-host'], host);
  assert.equal(headers['x-forwarded-proto'], 'http');
  assert.equal(headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(headers.forwarded, `for=127.0.0.1;host="${host}";proto=http`);
});

test('redirects to the upstream come back on the public origin; other origins untouched', async () => {
  const g = await start();
  const moved = await get(`${g.url}/old-items`);
  assert.equal(moved.status, 301);
  assert.equal(moved.header('location'), `${g.url}/items?page=1`);
  const away = await get(`${g.url}/away`);
  assert.equal(away.header('location'), 'http://elsewhere.example/x');
  // Malformed headers pass as they came, and the answer is still whole.
  const bad = await get(`${g.url}/bad-link`);
  assert.equal(bad.status, 200);
  assert.equal(bad.header('link'), `${api.url}/v1/items; rel="next"`);
  assert.equal(bad.header('location'), `http://[${api.url}`);
  assert.equal(bad.body, '{}');
});

test("behind a trusted proxy, links use the proxy's public host and protocol", async () => {
  const g = await start('server:\n  trustedProxies: [127.0.0.1]\n');
  const page = await get(`${g.url}/items?per_page=5`, {
    'x-forwarded-for': '203.0.113.9',
    'x-forwarded-host': 'api.example.com',
    'x-forwarded-proto': 'https',
  });
  assert.equal(nextLink(page.header('link')), 'https://api.example.com/items?page=2&per_page=5');
  const { headers } = api.seen[0];
  assert.equal(headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
  assert.equal(headers['x-forwarded-host'], 'api.example.com');
  assert.equal(headers['x-forwarded-proto'], 'https');
  assert.equal(
    headers.forwarded,
    `for=203.0.113.9;host=api.example.com;proto=https, for=127.0.0.1;host="${new URL(g.url).host}";proto=http`,
  );
});

test('server.publicUrl is where links point, whatever Host the client sent', async () => {
  const g = await start('server:\n  publicUrl: https://example.com/api/\n');
  const page = await get(`${g.url}/items?per_page=5`, { host: 'other.example' });
  assert.equal(nextLink(page.header('link')), 'https://example.com/api/items?page=2&per_page=5');
  const moved = await get(`${g.url}/old-items`);
  assert.equal(moved.header('location'), 'https://example.com/api/items?page=1');
});

test('preserveHost: false sends the upstream its own Host; links built from it are still rewritten', async () => {
  const g = await start('server:\n  preserveHost: false\n');
  const gatewayHost = new URL(g.url).host;
  const page = await get(`${g.url}/host-items?per_page=5`);
  const { headers } = api.seen[0];
  assert.equal(headers.host, new URL(api.url).host);
  assert.equal(headers['x-forwarded-host'], gatewayHost);
  assert.equal(nextLink(page.header('link')), `${g.url}/host-items?page=2&per_page=5`);
});

test('with the client Host kept, an upstream building links from Host points at the gateway itself', async () => {
  // No base path here: an upstream that builds links from Host writes its own path in them.
  const root = await startPagingUpstream({ total: 23 });
  try {
    const g = await start('', root.url);
    const page = await get(`${g.url}/host-items?per_page=5`);
    assert.equal(root.seen[0].headers.host, new URL(g.url).host);
    assert.equal(nextLink(page.header('link')), `${g.url}/host-items?page=2&per_page=5`);
  } finally {
    await root.close();
  }
});
