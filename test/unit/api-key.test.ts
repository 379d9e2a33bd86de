import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import {
  constantTimeEqual,
  generateApiKey,
  hashApiKey,
  keyIdOf,
  normalizeKeyId,
} from '../../src/core/api-key.ts';

const FORMAT = /^sk_[0-9A-HJKMNP-TV-Z]{10}_[0-9A-Za-z]{32}$/;

test('a key is sk_<10 Crockford chars>_<32 base62 chars>, hashed with SHA-256', () => {
  const { id, secret, hash } = generateApiKey();
  assert.match(secret, FORMAT);
  assert.equal(secret.slice(3, 13), id);
  assert.equal(hash, createHash('sha256').update(secret).digest('hex'));
  assert.equal(hashApiKey(secret), hash);
  assert.match(hash, /^[0-9a-f]{64}$/);
});

test('keys do not repeat, and the secret part uses the whole base62 alphabet', () => {
  const ids = new Set<string>();
  const chars = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const { id, secret } = generateApiKey();
    ids.add(id);
    for (const c of secret.slice(14)) chars.add(c);
  }
  assert.equal(ids.size, 2000);
  assert.equal(chars.size, 62);
});

test('the secret is uniform: bytes 248..255 are skipped, not folded onto 0..7', () => {
  // A source that gives 255 (rejected) then 0 (→ "0") then 61 (→ "z"), over and over.
  const pattern = [255, 0, 61];
  let at = 0;
  const random = (n: number) => Uint8Array.from({ length: n }, () => pattern[at++ % 3]);
  const { secret } = generateApiKey(random);
  const part = secret.split('_')[2];
  assert.equal(part.length, 32);
  assert.match(part, /^[0z]+$/);
  assert.ok(!part.includes('7'), '255 % 62 = 7 would mean a biased fold');
});

test('keyIdOf returns the id of a well-formed key only', () => {
  const { id, secret } = generateApiKey();
  assert.equal(keyIdOf(secret), id);
  assert.equal(keyIdOf(`${secret}x`), undefined);
  assert.equal(keyIdOf(secret.slice(0, -1)), undefined);
  assert.equal(keyIdOf(secret.toLowerCase()), undefined);
  assert.equal(keyIdOf(`Bearer ${secret}`), undefined);
  assert.equal(keyIdOf('sk_ILOU000000_' + 'a'.repeat(32)), undefined);
  assert.equal(keyIdOf(''), undefined);
});

test('constantTimeEqual compares exactly, whatever the lengths', () => {
  assert.equal(constantTimeEqual('admin-token', 'admin-token'), true);
  assert.equal(constantTimeEqual('admin-token', 'admin-tokem'), false);
  assert.equal(constantTimeEqual('admin-token', 'admin-token-longer'), false);
  assert.equal(constantTimeEqual('', ''), true);
  assert.equal(constantTimeEqual('', 'x'), false);
  assert.equal(constantTimeEqual(Buffer.from('abc'), 'abc'), true);
});

test('byte 248 is the first one rejected: 248 = 4 × 62 would fold onto "0"', () => {
  // 248 (rejected) then 1 (→ "1"), over and over.
  const pattern = [248, 1];
  let at = 0;
  const random = (n: number) => Uint8Array.from({ length: n }, () => pattern[at++ % 2]);
  const part = generateApiKey(random).secret.split('_')[2];
  assert.equal(part, '1'.repeat(32));
});

test('normalizeKeyId reads a 10-character id as typed, and nothing shorter or longer', () => {
  assert.equal(normalizeKeyId('7kq4m9xt2b'), '7KQ4M9XT2B');
  assert.equal(normalizeKeyId('oil4m9xt2b'), '0114M9XT2B');
  assert.equal(normalizeKeyId('7kq4m9xt2'), undefined);
  assert.equal(normalizeKeyId('7kq4m9xt2bb'), undefined);
  assert.equal(normalizeKeyId(''), undefined);
});
