/**
 * N bytes that are the same on every run, streamed without holding N bytes in memory,
 * with their SHA-256 known before the first byte is sent. Tests download them through
 * the gateway and compare digests to prove bodies pass through unchanged.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

const BLOCK_SIZE = 64 * 1024;

/** One 64 KiB block from a fixed xorshift sequence; the stream repeats it. */
const BLOCK: Buffer = (() => {
  const block = Buffer.alloc(BLOCK_SIZE);
  let x = 0x9e3779b9;
  for (let i = 0; i < BLOCK_SIZE; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    block.writeUInt32LE(x >>> 0, i);
  }
  return block;
})();

const digests = new Map<number, string>();

/**
 * Hex SHA-256 of the first `size` deterministic bytes (cached per size).
 *
 * @example
 * deterministicSha256(0); // 'e3b0c442…' (the digest of nothing)
 */
export function deterministicSha256(size: number): string {
  const cached = digests.get(size);
  if (cached !== undefined) return cached;
  const hash = createHash('sha256');
  for (let sent = 0; sent < size; sent += BLOCK_SIZE) {
    hash.update(BLOCK.subarray(0, Math.min(BLOCK_SIZE, size - sent)));
  }
  const digest = hash.digest('hex');
  // A handful of sizes is all tests use; never let the cache grow without bound.
  if (digests.size >= 32) digests.clear();
  digests.set(size, digest);
  return digest;
}

/**
 * A stream of the first `size` deterministic bytes, pushed a block at a time as the
 * consumer reads (back-pressure is respected).
 *
 * @example
 * deterministicStream(20 * 1024 * 1024).pipe(response);
 */
export function deterministicStream(size: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= size) {
        this.push(null);
        return;
      }
      const n = Math.min(BLOCK_SIZE, size - sent);
      sent += n;
      // The block is never written to, so pushing the same memory again is safe.
      this.push(BLOCK.subarray(0, n));
    },
  });
}
