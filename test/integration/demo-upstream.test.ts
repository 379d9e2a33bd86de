import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import type { DemoItem, DemoUpstream } from '../../src/demo/index.ts';
import { generateDemoData, startDemoUpstream } from '../../src/demo/index.ts';

const data = generateDemoData();
let upstream: DemoUpstream;

before(async () => {
  upstream = await startDemoUpstream();
});
after(() => upstream.close());

async function getJson(path: string, headers: Record<string, string> = {}) {
  const res = await request(`${upstream.url}${path}`, { headers });
  return {
    status: res.statusCode,
    type: String(res.headers['content-type']),
    body: (await res.body.json()) as Record<string, unknown>,
  };
}

/** Follows nextCursor to the end; returns every item in order. */
async function collect(path: string): Promise<{ items: DemoItem[]; pages: number }> {
  const items: DemoItem[] = [];
  let pages = 0;
  let cursor: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const url: string =
      cursor === null ? path : `${path}${sep}cursor=${encodeURIComponent(cursor)}`;
    const { status, body } = await getJson(url);
    assert.equal(status, 200, url);
    items.push(...(body.data as DemoItem[]));
    cursor = body.nextCursor as string | null;
    pages++;
    assert.ok(pages < 1000, 'paging does not end');
  } while (cursor !== null);
  return { items, pages };
}

const byModified = (a: DemoItem, b: DemoItem) =>
  a.modifiedAt === b.modifiedAt ? (a.id < b.id ? -1 : 1) : a.modifiedAt < b.modifiedAt ? -1 : 1;

describe('demo data', () => {
  test('is the same on every run, sized as documented, with consistent timestamps', () => {
    assert.deepEqual(generateDemoData(), data);
    assert.deepEqual(
      [data.companies.length, data.devices.length, data.jobs.length, data.logs.length],
      [50, 500, 2000, 5000],
    );
    for (const item of [...data.companies, ...data.devices, ...data.jobs, ...data.logs]) {
      assert.ok(item.modifiedAt >= item.createdAt, item.id);
      assert.ok(
        item.createdAt >= '2025-01-01T00:00:00.000Z' && item.modifiedAt < '2026-01-01',
        item.id,
      );
    }
    const companyIds = new Set(data.companies.map((c) => c.id));
    assert.ok(data.devices.every((d) => companyIds.has(d.companyId)));
  });
});

describe('demo upstream lists', () => {
  test('a list answers the oldest changes first, 100 by default, with a cursor for more', async () => {
    const { status, body } = await getJson('/api/logs');
    assert.equal(status, 200);
    const page = body.data as DemoItem[];
    assert.equal(page.length, 100);
    assert.deepEqual(page, [...data.logs].sort(byModified).slice(0, 100));
    assert.equal(typeof body.nextCursor, 'string');

    const companies = await getJson('/api/companies');
    assert.equal((companies.body.data as unknown[]).length, 50);
    assert.equal(companies.body.nextCursor, null);
  });

  test('paging visits every item exactly once, across pages that split equal timestamps', async () => {
    const { items, pages } = await collect('/api/logs?limit=37');
    assert.equal(pages, Math.ceil(5000 / 37));
    assert.deepEqual(items, [...data.logs].sort(byModified));
    assert.equal(new Set(items.map((i) => i.id)).size, 5000);
  });

  test('modifiedAfter returns exactly the items changed strictly after it', async () => {
    // A timestamp several log pairs share, so "strictly after" is tested at a tie.
    const since = [...data.logs].sort(byModified)[2500].modifiedAt;
    const expected = data.logs.filter((l) => l.modifiedAt > since).sort(byModified);
    assert.ok(expected.length > 2000 && expected.length < 2500);
    const { items } = await collect(`/api/logs?limit=1000&modifiedAfter=${since}`);
    assert.deepEqual(items, expected);

    // Any ISO form of the same instant means the same thing.
    const offset = new Date(Date.parse(since) + 2 * 3600_000).toISOString().replace('Z', '+02:00');
    const again = await collect(`/api/logs?limit=1000&modifiedAfter=${encodeURIComponent(offset)}`);
    assert.deepEqual(again.items, expected);
  });

  test('after a change, an incremental sync returns only the changed items', async () => {
    const { items: before } = await collect('/api/devices?limit=1000');
    const checkpoint = before.at(-1)!.modifiedAt;
    const touch = await request(`${upstream.url}/_test/touch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ collection: 'devices', ids: ['dev-00007', 'dev-00003'] }),
    });
    assert.equal(touch.statusCode, 200);
    await touch.body.dump();
    const { items } = await collect(`/api/devices?modifiedAfter=${checkpoint}`);
    assert.deepEqual(
      items.map((i) => i.id),
      ['dev-00003', 'dev-00007'],
    );
    assert.ok(items[0].modifiedAt > checkpoint);
  });

  test('an item by id, or 404 problem+json', async () => {
    const ok = await getJson('/api/jobs/job-000042');
    assert.deepEqual(ok.body, data.jobs[41]);
    const missing = await getJson('/api/jobs/job-999999');
    assert.equal(missing.status, 404);
    assert.match(missing.type, /^application\/problem\+json/);
    assert.equal(missing.body.status, 404);
    assert.match(String(missing.body.detail), /job-999999/);
  });

  for (const [query, words] of [
    ['limit=0', /limit must be an integer from 1 to 1000, got "0"/],
    ['limit=1001', /limit must be/],
    ['limit=ten', /limit must be/],
    ['limit=5&limit=6', /limit must be given once/],
    ['modifiedAfter=yesterday', /modifiedAfter must be an ISO 8601 instant/],
    ['modifiedAfter=2025-13-40T00:00:00Z', /modifiedAfter must be/],
    ['modifiedAfter=1700000000', /modifiedAfter must be/],
    ['cursor=not-a-cursor', /cursor is not one this API returned/],
  ] as const) {
    test(`bad input (${query}) is a 400 problem+json that says what is wrong`, async () => {
      const { status, type, body } = await getJson(`/api/devices?${query}`);
      assert.equal(status, 400);
      assert.match(type, /^application\/problem\+json/);
      assert.deepEqual(Object.keys(body).sort(), ['detail', 'status', 'title', 'type']);
      assert.equal(body.status, 400);
      assert.match(String(body.detail), words);
    });
  }
});

describe('demo upstream routes', () => {
  test('an export streams the whole dataset as NDJSON', async () => {
    const res = await request(`${upstream.url}/api/exports/logs`);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'application/x-ndjson');
    // Streamed: chunked, not a body whose length was known up front.
    assert.equal(res.headers['content-length'], undefined);
    let chunks = 0;
    let text = '';
    for await (const chunk of res.body) {
      chunks++;
      text += chunk;
    }
    assert.ok(chunks > 1, `expected several chunks, got ${chunks}`);
    assert.ok(text.endsWith('\n'));
    const lines = text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as DemoItem);
    assert.deepEqual(
      lines.sort((a, b) => (a.id < b.id ? -1 : 1)),
      data.logs,
    );
    const missing = await getJson('/api/exports/invoices');
    assert.equal(missing.status, 404);
  });

  test('search finds items across collections', async () => {
    const name = data.companies[0].name;
    const { status, body } = await getJson(`/api/search?q=${encodeURIComponent(name)}&limit=5`);
    assert.equal(status, 200);
    const hits = body.data as { collection: string; item: DemoItem }[];
    assert.ok(hits.some((h) => h.collection === 'companies' && h.item.id === data.companies[0].id));
    assert.equal((await getJson('/api/search')).status, 400);
  });

  test('report rendering answers 202 after its delay, then can be looked up', async () => {
    const started = performance.now();
    const res = await request(`${upstream.url}/api/reports`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"dataset":"jobs"}',
    });
    assert.equal(res.statusCode, 202);
    assert.ok(performance.now() - started >= 45);
    const { reportId, status } = (await res.body.json()) as Record<string, string>;
    assert.equal(status, 'rendering');
    const report = await getJson(`/api/reports/${reportId}`);
    assert.equal(report.body.dataset, 'jobs');
  });

  test('whoami echoes the identity headers and the address the upstream sees', async () => {
    const { body } = await getJson('/api/whoami', {
      'x-sluice-account': 'acct-1',
      'x-sluice-key-id': 'key-9',
    });
    assert.equal(body.account, 'acct-1');
    assert.equal(body.keyId, 'key-9');
    assert.equal(body.ip, '127.0.0.1');
    const anonymous = await getJson('/api/whoami');
    assert.equal(anonymous.body.account, null);
  });
});

describe('demo upstream test support', () => {
  const SIZE = 20 * 1024 * 1024;

  test('a 20 MB upload is digested as sent', async () => {
    const body = Buffer.alloc(SIZE);
    for (let i = 0; i < SIZE; i++) body[i] = (i * 31 + (i >> 10)) & 0xff;
    const res = await request(`${upstream.url}/_test/upload-digest`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body,
    });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(await res.body.json(), {
      bytes: SIZE,
      sha256: createHash('sha256').update(body).digest('hex'),
    });
  });

  test('a 20 MB download matches its announced digest', async () => {
    const res = await request(`${upstream.url}/_test/download?bytes=${SIZE}`);
    assert.equal(res.statusCode, 200);
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of res.body) {
      bytes += chunk.length;
      hash.update(chunk);
    }
    assert.equal(bytes, SIZE);
    assert.equal(hash.digest('hex'), res.headers['x-content-sha256']);
    // The bytes are deterministic: the same on every run.
    const again = await request(`${upstream.url}/_test/download?bytes=${SIZE}`);
    await again.body.dump();
    assert.equal(again.headers['x-content-sha256'], res.headers['x-content-sha256']);
  });

  test('echo streams the body back unchanged', async () => {
    const body = Buffer.from('x'.repeat(1024 * 1024 + 7));
    const res = await request(`${upstream.url}/_test/echo`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body,
    });
    assert.equal(res.headers['content-type'], 'text/plain');
    assert.ok(Buffer.from(await res.body.arrayBuffer()).equals(body));
  });

  test('slow answers after the time asked; status answers the status asked', async () => {
    const started = performance.now();
    const slow = await getJson('/_test/slow?ms=120');
    assert.ok(performance.now() - started >= 115);
    assert.deepEqual(slow.body, { waitedMs: 120 });
    const res = await request(`${upstream.url}/_test/status/503?retryAfter=7`);
    assert.equal(res.statusCode, 503);
    assert.equal(res.headers['retry-after'], '7');
    await res.body.dump();
  });

  test('hits counts the requests that reached the upstream, per path', async () => {
    await request(`${upstream.url}/_test/hits/reset`, { method: 'POST' }).then((r) =>
      r.body.dump(),
    );
    await getJson('/api/companies?limit=1');
    await getJson('/api/companies?limit=2');
    await getJson('/api/companies/cmp-0001');
    await getJson('/no/such/route');
    const { body } = await getJson('/_test/hits');
    assert.deepEqual(body, {
      total: 4,
      paths: { '/api/companies': 2, '/api/companies/cmp-0001': 1, '/no/such/route': 1 },
    });
    await request(`${upstream.url}/_test/hits/reset`, { method: 'POST' }).then((r) =>
      r.body.dump(),
    );
    assert.deepEqual((await getJson('/_test/hits')).body, { total: 0, paths: {} });
  });
});
