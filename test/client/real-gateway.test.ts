/**
 * sluice-client against the real gateway process and the real demo upstream: a long
 * sync paced under the limits, the incremental sync after it, a revoked key, and `got`
 * (a well-known third-party client) paging through sluice with its own retry.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import got from 'got';
import {
  createClient,
  memoryCheckpoint,
  SluiceHaltedError,
  SluiceLocalRefusal,
} from 'sluice-client';
import { type DemoGateway, sluice, startDemoGateway } from '../helpers/gateway-process.ts';
import { bearer, call, eventually } from '../helpers/http.ts';

/** 600/min (one request every 100 ms) and a small burst (4): the rate, not a burst, is measured. */
const PACED = `
ip: { warn: 50000/min, block: 60000/min }
plans:
  standard: { base: 600/min, perUnit: 0/min, min: 600/min, max: 600/min, burst: 4 }
routes:
  - { name: reports, path: /api/reports/**, class: non-public }
  - { name: export, path: /api/exports/:dataset, class: bulk, dataset: ":dataset" }
  - name: full-listing
    method: GET
    path: /api/:collection(companies|devices|jobs|logs)
    query: { modifiedAfter: absent }
    class: batch
offHours: { batchMultiplier: 1 }
`;

/** A request the client sent, as the fetch it was given saw it. */
interface Sent {
  url: string;
  at: number;
  status: number;
}

/** The platform's own fetch, recording each request to the API (not the published policy). */
function recordingFetch(sent: Sent[]): typeof fetch {
  return async (input, init) => {
    const url = String(input);
    const at = performance.now();
    const res = await fetch(input, init);
    if (!url.includes('/.well-known/')) sent.push({ url, at, status: res.status });
    return res;
  };
}

let demo: DemoGateway;
before(async () => {
  demo = await startDemoGateway({ policy: PACED, accounts: ['acme', 'gone'] });
});
after(() => demo?.stop());

test('a sync of 5000 records meets no 429 and uses at least 80 % of the allowed rate; the next sync fetches only what changed', async (t) => {
  const sent: Sent[] = [];
  const checkpoint = memoryCheckpoint();
  const client = createClient({
    baseUrl: demo.gateway.url,
    key: demo.keys.acme,
    fetch: recordingFetch(sent),
    checkpoint,
  });
  let received = 0;
  const first = await client.sync('logs', {
    force: true,
    pageSize: 100,
    onRecords: (records) => {
      received += records.length;
    },
  });
  assert.equal(first.full, true);
  assert.equal(first.records, 5000);
  assert.equal(received, 5000);
  assert.equal(sent.length, 50);
  assert.deepEqual(
    sent.filter((s) => s.status !== 200),
    [],
    'every page answered 200: no 429',
  );
  assert.equal(client.stats.refused, 0);
  // Allowed from the first request's start to the last one's: the burst (4) plus 10 a second.
  const spanSec = (sent.at(-1)!.at - sent[0].at) / 1000;
  const allowed = 4 + 10 * spanSec;
  const used = sent.length / allowed;
  assert.ok(
    used >= 0.8,
    `used ${(used * 100).toFixed(1)} % of the allowed rate (${sent.length} in ${spanSec.toFixed(2)} s)`,
  );
  t.diagnostic(
    `${sent.length} requests in ${spanSec.toFixed(2)} s: ${(used * 100).toFixed(1)} % of the allowed rate, ${client.stats.slowed} slowed, 0 refused`,
  );
  // The client slows itself before the gateway has to (a stray hold under a loaded machine aside).
  assert.ok(client.stats.slowed <= 2, `${client.stats.slowed} answers were held by the gateway`);
  assert.ok(used <= 1.05, `never over the rate: ${(used * 100).toFixed(1)} %`);

  // Seven records change upstream; the second sync asks only for what changed since.
  const touched = await call(`${demo.upstream.url}/_test/touch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ collection: 'logs', count: 7 }),
  });
  assert.equal(touched.status, 200);
  const changedIds = touched.json<{ items: { id: string }[] }>().items.map((i) => i.id);
  sent.length = 0;
  const seen: string[] = [];
  const second = await client.sync('logs', {
    onRecords: (records) => {
      for (const r of records as { id: string }[]) seen.push(r.id);
    },
  });
  assert.equal(second.full, false);
  assert.equal(second.records, 7);
  assert.deepEqual(seen.sort(), changedIds.sort());
  assert.equal(sent.length, 1);
  assert.match(sent[0].url, /modifiedAfter=/);
  assert.equal(first.since !== undefined && second.since! > first.since, true);
});

test('a revoked key halts the client after exactly one request; every pending request rejects and onHalt is told once', async () => {
  const keyId = /^sk_([^_]+)_/.exec(demo.keys.gone)![1];
  const revoked = await sluice(['keys', 'revoke', keyId, '--data', demo.dataDir]);
  assert.equal(revoked.code, 0, revoked.stderr);
  // The gateway reads key changes every second: wait (outside the client) until it refuses the key.
  await eventually(async () => {
    const r = await call(`${demo.gateway.url}/api/whoami`, { headers: bearer(demo.keys.gone) });
    return r.status === 403 ? true : undefined;
  }, 10_000);
  const sent: Sent[] = [];
  const halts: SluiceHaltedError[] = [];
  const client = createClient({
    baseUrl: demo.gateway.url,
    key: demo.keys.gone,
    fetch: recordingFetch(sent),
    checkpoint: memoryCheckpoint(),
    onHalt: (e) => halts.push(e),
  });
  const results = await Promise.allSettled(
    ['cmp-0001', 'cmp-0002', 'cmp-0003', 'cmp-0004', 'cmp-0005'].map((id) =>
      client.request(`/api/companies/${id}`),
    ),
  );
  assert.equal(sent.length, 1, 'one request reached the gateway');
  assert.equal(sent[0].status, 403);
  for (const r of results) {
    assert.equal(r.status, 'rejected');
    assert.ok(r.reason instanceof SluiceHaltedError);
    assert.equal(r.reason.code, 'SLUICE_CLIENT_HALTED');
  }
  assert.equal(halts.length, 1);
  assert.equal(halts[0].status, 403);
  assert.equal(halts[0].problem.rule, 'key-revoked');
  assert.match(halts[0].reference ?? '', /^RL-[A-Z0-9]{4}-[A-Z0-9]{4}$/);
  // Later requests are refused by the client itself.
  await assert.rejects(client.request('/api/companies/cmp-0001'), SluiceHaltedError);
  assert.equal(sent.length, 1);
});

test('a route the policy marks non-public is refused by the client before any request', async () => {
  const sent: Sent[] = [];
  const client = createClient({
    baseUrl: demo.gateway.url,
    key: demo.keys.acme,
    fetch: recordingFetch(sent),
    checkpoint: memoryCheckpoint(),
  });
  await assert.rejects(client.request('/api/reports', { method: 'POST', body: '{}' }), (e) => {
    assert.ok(e instanceof SluiceLocalRefusal);
    assert.equal(e.code, 'SLUICE_CLIENT_NON_PUBLIC');
    return true;
  });
  await assert.rejects(client.request('/API/Reports/rpt-000001'), SluiceLocalRefusal);
  assert.equal(sent.length, 0);
});

/** 120/min, a burst of 2, never slowed (past the burst: 429 at once), and a low ignoring-429 threshold. */
const STRICT = `
ip: { warn: 50000/min, block: 60000/min }
plans:
  standard: { base: 120/min, perUnit: 0/min, min: 120/min, max: 120/min, burst: 2, maxDelay: 0s }
routes:
  - { name: reports, path: /api/reports/**, class: non-public }
safeguards:
  ignoring429: { threshold: 20, window: 1m }
`;

interface Page {
  data: { id: string }[];
  nextCursor: string | null;
}

/** Pages through /api/jobs with got, its retry as given; returns the ids and the statuses seen. */
async function gotPagedRead(url: string, key: string, retry: object) {
  const statuses: number[] = [];
  const ids: string[] = [];
  const client = got.extend({
    prefixUrl: url,
    headers: { authorization: `Bearer ${key}` },
    retry: { limit: 30, methods: ['GET'], statusCodes: [429], ...retry },
    hooks: {
      afterResponse: [
        (response) => {
          statuses.push(response.statusCode);
          return response;
        },
      ],
    },
  });
  let cursor: string | null = null;
  for (let page = 0; page < 20; page++) {
    const searchParams: Record<string, string> = {
      limit: '250',
      modifiedAfter: '2000-01-01T00:00:00Z',
    };
    if (cursor !== null) searchParams.cursor = cursor;
    const body: Page = await client.get('api/jobs', { searchParams }).json<Page>();
    for (const item of body.data) ids.push(item.id);
    cursor = body.nextCursor;
    if (cursor === null) break;
  }
  return { ids, statuses };
}

test("got's own retry, honouring Retry-After, finishes a paged read through sluice without the key being suspended", async () => {
  const strict = await startDemoGateway({ policy: STRICT, accounts: ['got-user', 'hammer'] });
  try {
    const { ids, statuses } = await gotPagedRead(strict.gateway.url, strict.keys['got-user'], {});
    assert.equal(ids.length, 2000, 'every job read');
    assert.equal(new Set(ids).size, 2000);
    assert.ok(statuses.includes(429), `got was told 429 and retried: ${statuses}`);
    assert.ok(!statuses.includes(403), `never suspended: ${statuses}`);
    const whoami = await call(`${strict.gateway.url}/api/whoami`, {
      headers: { authorization: `Bearer ${strict.keys['got-user']}` },
    });
    assert.notEqual(whoami.status, 403, 'the key still works');

    // The same read retrying at once, not after Retry-After, is suspended: the check can fail.
    await assert.rejects(
      gotPagedRead(strict.gateway.url, strict.keys.hammer, { calculateDelay: () => 20 }),
      (e: { response?: { statusCode: number; body: string } }) => {
        assert.equal(e.response?.statusCode, 403);
        assert.match(e.response?.body ?? '', /key-suspended/);
        return true;
      },
    );
  } finally {
    await strict.stop();
  }
});
