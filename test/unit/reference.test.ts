import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CROCKFORD,
  encodeCrockford,
  newReference,
  normalizeReference,
} from '../../src/core/reference.ts';

const SHAPE = /^RL-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/;

test('the alphabet is Crockford base32: 32 symbols, no I, L, O or U', () => {
  assert.equal(new Set(CROCKFORD).size, 32);
  for (const ambiguous of 'ILOU') assert.ok(!CROCKFORD.includes(ambiguous));
});

test('a reference encodes 40 random bits as RL-XXXX-XXXX', () => {
  assert.equal(
    newReference(() => new Uint8Array(5)),
    'RL-0000-0000',
  );
  assert.equal(
    newReference(() => new Uint8Array(5).fill(0xff)),
    'RL-ZZZZ-ZZZZ',
  );
  // 0x08 0x86 0x42 0x98 0xe8 = 00001 00010 00011 00100 00101 00110 00111 01000
  assert.equal(
    newReference(() => Uint8Array.of(0x08, 0x86, 0x42, 0x98, 0xe8)),
    'RL-1234-5678',
  );
  let asked = 0;
  newReference((n) => {
    asked = n;
    return new Uint8Array(n);
  });
  assert.equal(asked, 5);
});

test('encodeCrockford refuses too few bytes', () => {
  assert.throws(() => encodeCrockford(new Uint8Array(4), 8), RangeError);
  assert.equal(encodeCrockford(Uint8Array.of(0xff), 1), 'Z');
});

test('real references have the right shape and do not repeat', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    const ref = newReference();
    assert.match(ref, SHAPE);
    seen.add(ref);
  }
  assert.equal(seen.size, 10_000);
});

test('normalizeReference accepts what people type and read aloud', () => {
  const canonical = 'RL-7KQ4-M9XT';
  for (const typed of [
    'RL-7KQ4-M9XT',
    'rl-7kq4-m9xt',
    'RL7KQ4M9XT',
    'rl7kq4m9xt',
    '7KQ4-M9XT',
    '7kq4m9xt',
    ' RL 7KQ4 M9XT ',
    'rl-7kq4m9xt',
  ]) {
    assert.equal(normalizeReference(typed), canonical, typed);
  }
  // O is zero, I and L are one.
  assert.equal(normalizeReference('rl-oo1i-lo0o'), 'RL-0011-1000');
  // An 8-character code may start with R and L: L reads as 1.
  assert.equal(normalizeReference('RL12-3456'), 'RL-R112-3456');
  assert.equal(normalizeReference('rl123456'), 'RL-R112-3456');
});

test('normalizeReference refuses what cannot be a code', () => {
  for (const bad of [
    '',
    'RL-',
    'RL-7KQ4',
    'RL-7KQ4-M9XT-1',
    'RL-7KQ4-M9XU', // U is not in the alphabet
    'XX-7KQ4-M9XT',
    'RL-7KQ4-M9X!',
    'RL-7KQ4-M9XTT',
    'a'.repeat(1000),
  ]) {
    assert.equal(normalizeReference(bad), undefined, bad);
  }
});

test('normalizing a canonical reference gives it back', () => {
  for (let i = 0; i < 1000; i++) {
    const ref = newReference();
    assert.equal(normalizeReference(ref), ref);
    assert.equal(normalizeReference(ref.toLowerCase().replaceAll('-', '')), ref);
  }
});

test('too few bytes for the characters asked is a RangeError saying how many are needed', () => {
  assert.throws(() => encodeCrockford(new Uint8Array(4), 8), {
    name: 'RangeError',
    message: '8 base32 characters need 5 bytes',
  });
  assert.throws(() => encodeCrockford(new Uint8Array(1), 3), {
    message: '3 base32 characters need 2 bytes',
  });
});

test('normalizeReference takes up to 40 characters as typed, and nothing that is not a string', () => {
  const padded40 = `7kq4m9xt${' '.repeat(32)}`;
  assert.equal(padded40.length, 40);
  assert.equal(normalizeReference(padded40), 'RL-7KQ4-M9XT');
  assert.equal(normalizeReference(`${padded40} `), undefined);
  assert.equal(normalizeReference(`-${'-'.repeat(40)}7kq4m9xt`), undefined);
  assert.equal(normalizeReference(12345678 as unknown as string), undefined);
  assert.equal(normalizeReference(undefined as unknown as string), undefined);
});

test('references made by the default source are distinct across pool refills', () => {
  // 1000 × 5 bytes crosses the 4 KiB pool at least once.
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) seen.add(newReference());
  assert.equal(seen.size, 1000);
});
