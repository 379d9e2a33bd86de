import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { pacedLoad, percentile } from '../paced-load.ts';

test('percentile is nearest-rank', () => {
  const v = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(v, 50), 50);
  assert.equal(percentile(v, 99), 99);
  assert.equal(percentile(v, 100), 100);
  assert.equal(percentile([], 99), 0);
});

test('sends rate × duration requests on schedule, with the key, and counts statuses', async (t) => {
  const seen: number[] = [];
  const keys = new Set<string>();
  const server = createServer((req, res) => {
    seen.push(performance.now());
    keys.add(String(req.headers['x-api-key']));
    res.statusCode = seen.length % 5 === 0 ? 429 : 200;
    res.end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => server.close(r)));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const started = performance.now();
  const r = await pacedLoad({ url, header: 'x-api-key', key: 'k1', rate: 100, durationSec: 0.5 });
  assert.equal(r.sent, 50);
  assert.equal(r.completed, 50);
  assert.deepEqual(r.status, { 200: 40, 429: 10 });
  assert.deepEqual([...keys], ['k1']);
  // Paced, not as fast as possible: the last request left about 490 ms after the first.
  const spread = seen.at(-1)! - seen[0];
  assert.ok(spread > 400 && spread < 800, `spread ${spread} ms`);
  assert.ok(performance.now() - started < 3000);
});

test('sends from the given loopback address', async (t) => {
  const seen = new Set<string>();
  const server = createServer((req, res) => {
    seen.add(String(req.socket.remoteAddress));
    res.end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => server.close(r)));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const r = await pacedLoad({
    url,
    header: 'x-api-key',
    key: 'k',
    rate: 50,
    durationSec: 0.1,
    localAddress: '127.0.0.3',
  });
  assert.equal(r.completed, 5);
  assert.deepEqual([...seen], ['127.0.0.3']);
});
