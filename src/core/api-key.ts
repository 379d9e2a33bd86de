/**
 * API keys: `sk_<id>_<secret>`, e.g. `sk_7KQ4M9XT2B_Vx3…` (10 + 32 characters).
 *
 * The id (10 Crockford base32 characters, 50 bits) is public: it is what logs, the
 * audit trail, incidents and support show. The secret (32 base62 characters, 190
 * bits) is shown once when the key is created and never stored: sluice keeps only
 * the SHA-256 of the whole key.
 */
import { createHash, hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { encodeCrockford, type RandomBytes, readCrockford } from './reference.ts';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const ID_CHARS = 10;
const SECRET_CHARS = 32;
const KEY_PATTERN = /^sk_([0-9A-HJKMNP-TV-Z]{10})_([0-9A-Za-z]{32})$/;

const systemRandom: RandomBytes = (n) => randomBytes(n);

/** A newly made key: `secret` is the whole key string, to be shown once and then forgotten. */
export interface GeneratedApiKey {
  readonly id: string;
  readonly secret: string;
  readonly hash: string;
}

/**
 * Makes a new API key.
 *
 * @example
 * const { id, secret, hash } = generateApiKey();
 * // id: '7KQ4M9XT2B', secret: 'sk_7KQ4M9XT2B_…', hash: sha256 hex of secret
 */
export function generateApiKey(random: RandomBytes = systemRandom): GeneratedApiKey {
  const id = encodeCrockford(random(7), ID_CHARS);
  const key = `sk_${id}_${base62(random, SECRET_CHARS)}`;
  return { id, secret: key, hash: hashApiKey(key) };
}

/**
 * Uniform base62 by rejection: 248 = 4 × 62, so bytes 248…255 are thrown away rather
 * than folded onto the first characters (which would bias them).
 */
function base62(random: RandomBytes, chars: number): string {
  let out = '';
  while (out.length < chars) {
    for (const b of random(chars)) {
      if (b < 248 && out.length < chars) out += BASE62[b % 62];
    }
  }
  return out;
}

/**
 * SHA-256 of the whole key, hex: what the store keeps and looks keys up by.
 *
 * A fast hash is right here, unlike for passwords: the secret is 190 random bits, so
 * nobody can guess it faster by trying candidates against a leaked hash, and a slow
 * hash (bcrypt, scrypt) would cost milliseconds on every request for no gain. Being
 * deterministic, it also lets the gateway find a key by its hash in one lookup.
 *
 * @example
 * hashApiKey('sk_7KQ4M9XT2B_…'); // '3f1c…' (64 hex characters)
 */
export function hashApiKey(key: string): string {
  // One-shot: no Hash object per request (the identify stage hashes every key it reads).
  return hash('sha256', key, 'hex');
}

/**
 * The public id of a well-formed key, or undefined. For logs and messages: the id is
 * safe to show, the key is not.
 *
 * @example
 * keyIdOf('sk_7KQ4M9XT2B_…32 chars…'); // '7KQ4M9XT2B'
 * keyIdOf('hello'); // undefined
 */
export function keyIdOf(key: string): string | undefined {
  return KEY_PATTERN.exec(key)?.[1];
}

/**
 * The canonical form of a key id as a person typed or read it (case-insensitive,
 * `O`/`I`/`L` read as `0`/`1`/`1`), or undefined when it cannot be one.
 *
 * @example
 * normalizeKeyId('7kq4m9xt2b'); // '7KQ4M9XT2B'
 */
export function normalizeKeyId(input: string): string | undefined {
  return input.length === ID_CHARS ? readCrockford(input) : undefined;
}

/**
 * Compares two secrets in time that does not depend on where they differ.
 * Both sides are hashed first, so `timingSafeEqual` always sees equal-length buffers
 * and the time does not reveal the length of the expected value either.
 *
 * @example
 * constantTimeEqual(request.headers['x-admin-token'] ?? '', adminToken);
 */
export function constantTimeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  // Equal digests of different inputs would need a SHA-256 collision.
  return timingSafeEqual(da, db);
}
