/**
 * Hashing and packing of limit keys for the memory store's tables.
 *
 * Hash: tabulation hashing, one random 32-bit word per (position, byte), drawn once per
 * process. Why not a multiply-and-xor string hash with a seed: some clients choose their
 * keys (the low 64 bits of an IPv6 address are the client's), and for several seeded
 * hashes there are collisions that hold whatever the seed, so a client could pile its keys
 * into one probe run. With random tables no collision can be built without knowing them:
 * two different keys collide with probability 2⁻³² whatever they are (the scheme is
 * 3-independent on keys of up to POSITIONS characters). A collision only costs a longer
 * probe: the table compares the whole key before it uses a row. The part of the tables in
 * use is small (digits, hex letters, `.` and `:`), so it stays in the L1 cache.
 *
 * Packing: while it hashes, `packKey` also writes the key as int32 words — its length in
 * the low byte of the first word, then its characters, four per word (zero-padded) — so
 * that a table compares a key with a row in a few word compares instead of one
 * `charCodeAt` per character. Only Latin-1 keys of at most MAX_PACKED characters are
 * packed; the first word of any other key is UNPACKED.
 *
 * @example
 * const words = new Int32Array(PACKED_WORDS);
 * packKey('10.0.0.1', words) === hashKey('10.0.0.1'); // true
 * words[0] & 31; // 8, the length
 */

/** Positions with their own tables; IPv6 addresses (≤ 39 characters) fit. */
const POSITIONS = 64;
const TABLES = crypto.getRandomValues(new Int32Array(POSITIONS * 256));
/** For the high byte of characters past Latin-1 (rare: IPs and ids are ASCII). */
const HIGH_TABLES = crypto.getRandomValues(new Int32Array(POSITIONS * 256));

/** Longest key that is packed; the length fits the low 5 bits of the first word. */
export const MAX_PACKED = 30;
/** Length field of a key that is not packed. */
export const UNPACKED = 31;
/** Words of a packed key at most: the length byte and MAX_PACKED characters. */
export const PACKED_WORDS = 8;

/** A 32-bit (signed) hash of `key`, the same for equal strings within one process. */
export function hashKey(key: string): number {
  const n = key.length;
  let h = 0;
  for (let i = 0; i < n; i++) h = step(h, i, key.charCodeAt(i));
  return h;
}

/** `hashKey(key)`, and the key packed into `words` (see above). */
export function packKey(key: string, words: Int32Array): number {
  const n = key.length;
  let h = 0;
  let packed = n <= MAX_PACKED;
  let word = n; // the length byte, then the characters from byte 1
  let w = 0;
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i);
    h = step(h, i, c);
    if (packed) {
      if (c > 255) packed = false;
      const byte = (i + 1) & 3;
      word |= c << (byte << 3);
      if (byte === 3) {
        words[w++] = word;
        word = 0;
      }
    }
  }
  if (!packed) words[0] = UNPACKED;
  else if (((n + 1) & 3) !== 0) words[w] = word;
  return h;
}

/** Where `packPair` puts the two hashes. */
export const PAIR_HASHES = new Int32Array(2);

/**
 * `packKey(a, wordsA)` and `packKey(b, wordsB)`, the hashes into PAIR_HASHES[0] and [1],
 * reading the two strings side by side: when neither is in the cache, both misses are
 * waited for at once, not one after the other.
 *
 * @example
 * packPair('203.0.113.9', wordsA, 'acme', wordsB);
 * PAIR_HASHES[1] === hashKey('acme'); // true
 */
export function packPair(a: string, wordsA: Int32Array, b: string, wordsB: Int32Array): void {
  // Both lengths are read first: the two strings' cache misses start together.
  const na = a.length;
  const nb = b.length;
  if (na > MAX_PACKED || nb > MAX_PACKED) {
    PAIR_HASHES[0] = packKey(a, wordsA);
    PAIR_HASHES[1] = packKey(b, wordsB);
    return;
  }
  let ha = 0;
  let hb = 0;
  let wa = na;
  let wb = nb;
  let bad = 0; // characters past Latin-1, either key
  for (let i = 0; i < na || i < nb; i++) {
    const byte = (i + 1) & 3;
    if (i < na) {
      const c = a.charCodeAt(i);
      ha = step(ha, i, c);
      bad |= c;
      wa |= c << (byte << 3);
    }
    if (i < nb) {
      const c = b.charCodeAt(i);
      hb = step(hb, i, c);
      bad |= c;
      wb |= c << (byte << 3);
    }
    if (byte === 3) {
      wordsA[(i + 1) >> 2] = wa;
      wordsB[(i + 1) >> 2] = wb;
      wa = 0;
      wb = 0;
    }
  }
  // Past Latin-1 (rare): start again, one key at a time.
  if (bad > 255) {
    PAIR_HASHES[0] = packKey(a, wordsA);
    PAIR_HASHES[1] = packKey(b, wordsB);
    return;
  }
  const last = Math.max(na, nb);
  if (((last + 1) & 3) !== 0) {
    wordsA[(last + 1) >> 2] = wa;
    wordsB[(last + 1) >> 2] = wb;
  }
  PAIR_HASHES[0] = ha;
  PAIR_HASHES[1] = hb;
}

/** `hashKey` of the packed key whose first word is `words[at]`. */
export function hashPacked(words: Int32Array, at: number): number {
  const n = words[at] & 31;
  let h = 0;
  for (let i = 0; i < n; i++) {
    const byte = i + 1;
    h = step(h, i, (words[at + (byte >> 2)] >>> ((byte & 3) << 3)) & 255);
  }
  return h;
}

/** Mixes character `c` at position `i` into `h`. */
function step(h: number, i: number, c: number): number {
  const row = (i & (POSITIONS - 1)) << 8;
  let x = TABLES[row | (c & 255)];
  if (c > 255) x ^= HIGH_TABLES[row | (c >>> 8)];
  // Past POSITIONS the tables repeat; the rotation keeps swapped characters apart.
  return i < POSITIONS ? h ^ x : ((h << 5) | (h >>> 27)) ^ x;
}
