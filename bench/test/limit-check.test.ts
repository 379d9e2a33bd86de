import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { checkLimits } from '../lib/limit-check.ts';

/** A toy gateway: `limitOf(key)` requests per key, then 429 (or never, for Infinity). */
async function toy(t: { after(f: () => unknown): void }, limitOf: (key: string) => number) {
  const counts = new Map<string, number>();
  let total = 0;
  const server: Server = createServer((req, res) => {
    const key = String(req.headers['x-api-key']);
    const n = (counts.get(key) ?? 0) + 1;
    counts.set(key, n);
    total++;
    res.statusCode = n > limitOf(key) || total > limitOf('*global*') ? 429 : 200;
    res.end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => server.close(r)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('passes a gateway that limits one key and serves another', async (t) => {
  const url = await toy(t, (k) => (k === '*global*' ? Infinity : 6));
  const v = await checkLimits(url, 'x-api-key', 'a', 'b');
  assert.equal(v.ok, true, v.detail);
  assert.equal(v.allowedBefore429, 6);
  assert.equal(v.otherKeyStatus, 200);
});

test('fails a gateway that limits nothing', async (t) => {
  const url = await toy(t, () => Infinity);
  const v = await checkLimits(url, 'x-api-key', 'a', 'b', { attempts: 12 });
  assert.equal(v.ok, false);
  assert.match(v.detail, /no 429 in 12 requests/);
});

test('fails a gateway whose limit is not per key', async (t) => {
  const url = await toy(t, (k) => (k === '*global*' ? 5 : Infinity));
  const v = await checkLimits(url, 'x-api-key', 'a', 'b');
  assert.equal(v.ok, false);
  assert.match(v.detail, /key B was not served/);
});

test('fails a gateway that lets too many through before limiting', async (t) => {
  const url = await toy(t, (k) => (k === '*global*' ? Infinity : 20));
  const v = await checkLimits(url, 'x-api-key', 'a', 'b', { attempts: 25, maxAllowed: 15 });
  assert.equal(v.ok, false);
  assert.match(v.detail, /429 only after 20/);
});
