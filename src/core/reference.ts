/**
 * Reference codes: the short code a refused client is given and reads to support,
 * e.g. `RL-7KQ4-M9XT`.
 *
 * Crockford base32 because it is made to be read aloud and typed back: no `I`, `L`,
 * `O` or `U`, case does not matter, and the letters people confuse with digits are
 * read as those digits. Eight characters carry 40 random bits: unguessable by
 * enumeration through a rate-limited lookup, and short enough for the phone.
 */
import { randomBytes, randomFillSync } from 'node:crypto';

/** Crockford's base32 alphabet: digits, then letters without I, L, O, U. */
export const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A source of random bytes; injected so tests can pin codes. */
export type RandomBytes = (n: number) => Uint8Array;

/**
 * Random bytes from a pool refilled 4 KiB at a time: a reference is made on the refusal
 * path, and one `randomBytes(5)` call costs about 2 µs, most of it per call, not per
 * byte. (Node pools random bytes for `randomUUID` the same way.) Each call gets a copy.
 */
const pool = new Uint8Array(4096);
let poolOffset = pool.length;
const systemRandom: RandomBytes = (n) => {
  if (n > pool.length) return randomBytes(n);
  if (poolOffset + n > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  poolOffset += n;
  return pool.slice(poolOffset - n, poolOffset);
};

/**
 * Encodes the first `chars × 5` bits of `bytes` as Crockford base32, most significant
 * bit first.
 *
 * @example
 * encodeCrockford(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff]), 8); // 'ZZZZZZZZ'
 */
export function encodeCrockford(bytes: Uint8Array, chars: number): string {
  if (bytes.length * 8 < chars * 5) {
    throw new RangeError(`${chars} base32 characters need ${Math.ceil((chars * 5) / 8)} bytes`);
  }
  let out = '';
  let buffer = 0;
  let bits = 0;
  let i = 0;
  while (out.length < chars) {
    if (bits < 5) {
      buffer = ((buffer << 8) | bytes[i++]) & 0xffff;
      bits += 8;
    }
    bits -= 5;
    out += CROCKFORD[(buffer >> bits) & 31];
  }
  return out;
}

/**
 * A new reference code, `RL-XXXX-XXXX` (40 random bits).
 *
 * @example
 * newReference(); // 'RL-7KQ4-M9XT'
 */
export function newReference(random: RandomBytes = systemRandom): string {
  const body = encodeCrockford(random(5), 8);
  return `RL-${body.slice(0, 4)}-${body.slice(4)}`;
}

/** Letters Crockford reads as digits, so a code read over the phone still matches. */
const READ_AS: Readonly<Record<string, string>> = { O: '0', I: '1', L: '1' };

/**
 * Reads Crockford base32 as a person typed it: upper case, `O` as `0`, `I` and `L` as
 * `1`; undefined when any character (a dash too) is not in the alphabet.
 *
 * @example
 * readCrockford('7kq4m9xt2b'); // '7KQ4M9XT2B'
 * readCrockford('oil'); // '011'
 */
export function readCrockford(input: string): string | undefined {
  let out = '';
  for (const ch of input.toUpperCase()) {
    const c = READ_AS[ch] ?? ch;
    if (!CROCKFORD.includes(c)) return undefined;
    out += c;
  }
  return out;
}

/**
 * The canonical form of a reference code as someone typed it, or undefined when it
 * cannot be one. Accepts lower case, missing or extra dashes and spaces, a missing
 * `RL-`, and `O`/`I`/`L` for `0`/`1`/`1`.
 *
 * @example
 * normalizeReference('rl7kq4m9xt'); // 'RL-7KQ4-M9XT'
 * normalizeReference('7kq4-m9xt'); // 'RL-7KQ4-M9XT'
 * normalizeReference('RL-7KQ4'); // undefined
 */
export function normalizeReference(input: string): string | undefined {
  if (typeof input !== 'string' || input.length > 40) return undefined;
  let s = input.toUpperCase().replace(/[\s-]/g, '');
  // By length, not by prefix: a bare 8-character code may itself begin with "RL"
  // (L reads as 1), so only a 10-character input carries the prefix.
  if (s.length === 10 && s.startsWith('RL')) s = s.slice(2);
  const body = s.length === 8 ? readCrockford(s) : undefined;
  return body === undefined ? undefined : `RL-${body.slice(0, 4)}-${body.slice(4)}`;
}
