import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  hashKey,
  hashPacked,
  PACKED_WORDS,
  PAIR_HASHES,
  packKey,
  packPair,
  UNPACKED,
} from '../../src/store/key-hash.ts';
import { INDEX_FROM, REFERENCED, SlotTable } from '../../src/store/slot-table.ts';

/** Deterministic pseudo-random numbers (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Short IPv4-like keys, keys too long to sit in a row, and keys past Latin-1. */
function keyOf(n: number): string {
  if (n % 7 === 0) return `2001:db8:85a3:8d3:1319:8a2e:370:${n.toString(16)}`;
  if (n % 11 === 0) return `ключ-${n}`;
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

const EXPIRY = 0;

test('the table agrees with a Map through inserts, lookups, sweeps, evictions and growth', () => {
  // With its own index from the start, from 64 rows on (it switches as it grows), never.
  for (const [seed, indexFrom] of [
    [1, 0],
    [2, 0],
    [3, 64],
    [4, 64],
    [5, INDEX_FROM],
  ]) {
    const next = random(seed);
    const t = new SlotTable('ip:', false, 4, 64, EXPIRY, 4, indexFrom);
    // Key → its expiry; the table stores the expiry in the row as the number to check.
    const model = new Map<string, number>();
    for (let step = 0; step < 20_000; step++) {
      const key = keyOf(Math.floor(next() * 3000));
      const r = next();
      const slot = t.find(key);
      assert.equal(slot >= 0, model.has(key), `seed ${seed} step ${step}: find ${key}`);
      if (slot >= 0) {
        assert.equal(t.rows.f64[slot * t.rows.strideF64 + EXPIRY], model.get(key), `row of ${key}`);
        t.rows.i32[t.rows.headAt(slot)] |= REFERENCED;
        if (r < 0.3) {
          // Rewritten, sometimes earlier than before (a new policy).
          const expiry = Math.floor(next() * 1000);
          t.rows.setExpiry(slot, expiry);
          model.set(key, expiry);
        }
      } else if (r < 0.8) {
        const expiry = Math.floor(next() * 1000);
        t.rows.setExpiry(t.insert(key), expiry);
        model.set(key, expiry);
      }
      if (r > 0.97) {
        // Sweep: rows with expiry ≤ now go, the others stay; a full round finds them all.
        const now = Math.floor(next() * 200);
        const full = next() < 0.3;
        const before = t.size;
        t.sweep(now, full ? t.capacity : 64);
        if (full) {
          for (const [k, expiry] of model) assert.ok(expiry > now || t.find(k) < 0, `${k} kept`);
        }
        const swept = before - t.size;
        let dead = 0;
        for (const [k, expiry] of model) {
          if (t.find(k) < 0) {
            assert.ok(expiry <= now, `${k} (expiry ${expiry}) swept at ${now}`);
            model.delete(k);
            dead++;
          }
        }
        assert.equal(dead, swept);
      } else if (r > 0.95 && t.size > 0) {
        t.evictOne();
        let gone = 0;
        for (const k of model.keys()) {
          if (t.find(k) < 0) {
            model.delete(k);
            gone++;
          }
        }
        assert.equal(gone, 1, 'one key evicted');
      }
      assert.equal(t.size, model.size);
    }
    assert.ok(t.capacity >= model.size);
  }
});

test('two keys with the same 32-bit hash keep separate rows (the whole key is compared)', () => {
  // The hash tables are random per process: look for a full collision (birthday bound:
  // about 80,000 keys).
  const byHash = new Map<number, string>();
  let pair: [string, string] | undefined;
  for (let i = 0; pair === undefined && i < 2_000_000; i++) {
    const key = `acct-${i}`;
    const h = hashKey(key);
    const other = byHash.get(h);
    if (other === undefined) byHash.set(h, key);
    else pair = [other, key];
  }
  assert.ok(pair !== undefined, 'a collision was found');
  const [a, b] = pair;
  assert.equal(hashKey(a), hashKey(b));
  const t = new SlotTable('acct:', false, 1, 32, 0, 2, 0);
  const sa = t.insert(a);
  t.rows.f64[sa * t.rows.strideF64] = 1;
  assert.equal(t.find(b), -1, `${b} is not ${a}`);
  const sb = t.insert(b);
  t.rows.f64[sb * t.rows.strideF64] = 2;
  assert.notEqual(sa, sb);
  assert.equal(t.rows.f64[t.find(a) * t.rows.strideF64], 1);
  assert.equal(t.rows.f64[t.find(b) * t.rows.strideF64], 2);
  assert.equal(t.find('acct-x'), -1);
});

test('eviction takes the oldest row, giving rows looked up since a second chance', () => {
  const t = new SlotTable('ip:', false, 4, 64, EXPIRY, 4, 0);
  const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
  for (const key of keys) t.insert(key); // grows from 4 rows to 8
  const held = () => keys.filter((k) => t.find(k) >= 0);
  t.evictOne();
  assert.deepEqual(held(), ['b', 'c', 'd', 'e', 'f'], 'the oldest goes first');
  t.rows.i32[t.rows.headAt(t.find('b'))] |= REFERENCED;
  t.rows.i32[t.rows.headAt(t.find('d'))] |= REFERENCED;
  t.evictOne();
  assert.deepEqual(held(), ['b', 'd', 'e', 'f'], 'b had a second chance, c went');
  t.evictOne();
  assert.deepEqual(held(), ['b', 'd', 'f'], 'd had a second chance, e went');
  t.evictOne();
  assert.deepEqual(held(), ['b', 'd'], 'f, now the oldest, went');
  t.evictOne();
  assert.deepEqual(held(), ['d'], 'b went back in line before d');
});

test('hashKey is fixed for a string and differs between strings', () => {
  assert.equal(hashKey('203.0.113.9'), hashKey(['203', '0', '113', '9'].join('.')));
  const seen = new Set<number>();
  for (let i = 0; i < 10_000; i++) seen.add(hashKey(keyOf(i)));
  assert.ok(seen.size > 9_990, `${seen.size} distinct hashes of 10,000 keys`);
});

test('packPair packs and hashes two keys exactly as packKey does each', () => {
  const next = random(7);
  const alphabet = ['a', '0', '.', ':', 'é', 'ÿ', 'ж', '\u0000'];
  const keys = ['', 'x', 'ab', 'abc', 'abcd', 'abcde'];
  for (let i = 0; i < 400; i++) {
    const n = Math.floor(next() * 36);
    let key = '';
    for (let j = 0; j < n; j++) key += alphabet[Math.floor(next() * (next() < 0.9 ? 4 : 8))];
    keys.push(key);
  }
  const used = (words: Int32Array) => {
    const n = words[0] & 31;
    return n === UNPACKED ? [UNPACKED] : [...words.subarray(0, (n + 4) >> 2)];
  };
  for (let i = 0; i + 1 < keys.length; i++) {
    const [a, b] = [keys[i], keys[keys.length - 1 - i]];
    const wa = new Int32Array(PACKED_WORDS).fill(-1);
    const wb = new Int32Array(PACKED_WORDS).fill(-1);
    packPair(a, wa, b, wb);
    const ea = new Int32Array(PACKED_WORDS);
    const eb = new Int32Array(PACKED_WORDS);
    assert.equal(PAIR_HASHES[0], packKey(a, ea), `hash of ${JSON.stringify(a)}`);
    assert.equal(PAIR_HASHES[1], packKey(b, eb), `hash of ${JSON.stringify(b)}`);
    assert.deepEqual(used(wa), used(ea), `words of ${JSON.stringify(a)}`);
    assert.deepEqual(used(wb), used(eb), `words of ${JSON.stringify(b)}`);
    assert.equal(packKey(a, ea), hashKey(a));
    if ((ea[0] & 31) !== UNPACKED) assert.equal(hashPacked(ea, 0), hashKey(a), 'from the words');
  }
});

test('insert after another key was announced still stores its own key', () => {
  const t = new SlotTable('ip:', false, 4, 64, EXPIRY, 16, 0);
  const announce = (key: string) => {
    t.expect(key, packKey(key, t.nextWords));
  };
  announce('10.0.0.1');
  assert.equal(t.find('10.0.0.1'), -1);
  announce('10.0.0.2'); // rewrites the words find used
  t.insert('10.0.0.1');
  assert.ok(t.find('10.0.0.1') >= 0, '10.0.0.1 is held');
  assert.equal(t.find('10.0.0.2'), -1, '10.0.0.2 is not');
});
