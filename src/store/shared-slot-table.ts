/**
 * One kind of limiter state (GCRA or window) in shared memory, for the shared limit store
 * (shared-limit-store.ts): key → a row of float64 numbers, in `SharedArrayBuffer`s that
 * worker threads attach to, so that every thread reads and updates the same rows.
 *
 * Concurrency: striped locks, not lock-free rows. The table is cut into `stripes`
 * independent parts by the key's hash; each has its own lock word, index, rows, free and
 * age lists, and an operation holds its stripe's lock from look-up to write-back. Why
 * locks: an update is read tat/window → pure maths → write several numbers, plus an
 * insert that may evict, unlink and re-link rows and shift index entries; making all of
 * that lock-free would need a CAS loop per field and careful reclamation, for no gain when
 * two threads rarely want the same stripe. A lock is one compareExchange to take and one
 * to give back when uncontended, and every lock word sits on a cache line of its own. The
 * lock is a futex-style mutex (0 free, 1 held, 2 held with waiters): a bounded spin, then
 * `Atomics.wait`, so a thread never burns a core for long behind a descheduled holder.
 * Atomics are sequentially consistent, so the plain typed-array reads and writes made
 * under a lock are seen by the next holder.
 *
 * Layout of a stripe (capacity C rows, a power of two):
 * - control words (16 int32, one cache line): lock, size, fresh (rows ever used), free
 *   head, age head, age tail, sweep cursor, operations since the last sweep, and (as
 *   float64) a lower bound on the rows' expiries and the sweep pass's least expiry;
 * - index: open addressing over 2C int32 entries, `(hash & ~mask) | (row + 1)` as in
 *   slot-table.ts, with backward-shift deletion (no tombstones);
 * - rows: [numbers as float64] [head, hash, prev, next] [key: KEY_WORDS int32]. The head
 *   holds the key's length, a DIGEST bit and the flags. The key itself is in the row and
 *   compared in full before a row is used, so two keys never share a row: an ASCII key of
 *   up to KEY_BYTES bytes as its bytes; any other key as its SHA-256 digest (collision-
 *   resistant, so not even a chosen key can land on another's row).
 * Rows are handed out from `fresh` (never touched before: the buffers commit memory only
 * as keys arrive) and then from the free list of released rows.
 *
 * @example
 * const t = new SharedSlotTable({ numbers: 1, stripes: 4, capacity: 1024 });
 * const other = new SharedSlotTable({ numbers: 1, stripes: 4, capacity: 1024 }, t.buffer); // another thread
 * const k = encodeKey('ip:', '203.0.113.9', scratch);
 * const s = t.stripeOf(k.hash); t.lock(s); const row = t.find(s, k); … t.unlock(s);
 */
import { createHash } from 'node:crypto';

/** Key bytes held in a row: "ip:" and the longest IPv6 address text fit. */
export const KEY_BYTES = 48;
const KEY_WORDS = KEY_BYTES / 4;

// The head word: length (bits 0–7), then flag bits.
const LENGTH_BITS = 0xff;
/** The row holds the SHA-256 digest of a key (not ASCII, or longer than KEY_BYTES). */
const DIGEST = 1 << 8;
/** The row holds a key. */
export const USED = 1 << 9;
/** Looked up since inserted or last given a second chance by the eviction. */
export const REFERENCED = 1 << 10;
/** Free for the store's own use (the window store: "warned in this window"). */
export const STORE_FLAG = 1 << 11;
const KEY_MASK = LENGTH_BITS | DIGEST;

// Row words after the numbers.
const HEAD = 0;
const HASH = 1;
const PREV = 2;
const NEXT = 3;
const KEY = 4;
const META_WORDS = KEY + KEY_WORDS;

// Control words of a stripe.
const CONTROL_WORDS = 16;
const LOCK = 0;
const SIZE = 1;
const FRESH = 2;
const FREE = 3;
const AGE_HEAD = 4;
const AGE_TAIL = 5;
const CURSOR = 6;
const OPS = 7;
// Float64 words (int32 words 8–11): a lower bound on the expiry of every row held, and the
// least expiry met so far in the sweep's current pass round the rows (see `sweep`).
const LOW = 8;
const PASS_LOW = 10;

/** The end of a list. */
const NONE = -1;
/** Failed lock attempts before a thread sleeps on the lock word. */
const SPINS = 64;

export interface SharedSlotTableShape {
  /** Float64 numbers per row. */
  readonly numbers: number;
  /** Number of stripes (a power of two). */
  readonly stripes: number;
  /** Rows per stripe (a power of two). */
  readonly capacity: number;
}

/** A key as a row stores it: head word (length, DIGEST), hash, and KEY_WORDS words. */
export interface EncodedKey {
  head: number;
  hash: number;
  readonly words: Int32Array;
}

/** Scratch for `encodeKey` (one per thread and store). */
export function newEncodedKey(): EncodedKey {
  return { head: 0, hash: 0, words: new Int32Array(KEY_WORDS) };
}

/**
 * Packs `a + b` (no string is built) into `out`: ASCII up to KEY_BYTES as bytes, any other
 * key as its SHA-256 digest; then hashes the words (FNV-1a, then a murmur finaliser).
 *
 * @example
 * const k = encodeKey('acct:', 'acme', newEncodedKey()); // k.head === 9
 */
export function encodeKey(a: string, b: string, out: EncodedKey): EncodedKey {
  const words = out.words;
  const n = a.length + b.length;
  let ascii = n <= KEY_BYTES;
  if (ascii) {
    // Word by word (the row's key words), 4 characters each; OR-ing every character code
    // tells at the end whether any was past ASCII.
    let all = 0;
    const al = a.length;
    for (let w = 0, i = 0; w < KEY_WORDS; w++, i += 4) {
      let word = 0;
      for (let j = 0; j < 4; j++) {
        const at = i + j;
        if (at >= n) break;
        const c = at < al ? a.charCodeAt(at) : b.charCodeAt(at - al);
        all |= c;
        word |= c << (j << 3);
      }
      words[w] = word;
    }
    ascii = all <= 0x7f;
  }
  let used: number;
  if (ascii) {
    out.head = n;
    used = (n + 3) >> 2;
  } else {
    words.fill(0);
    const digest = createHash('sha256').update(a).update(b).digest();
    for (let i = 0; i < 8; i++) words[i] = digest.readInt32LE(i * 4);
    out.head = DIGEST | 32;
    used = 8;
  }
  let h = 0x811c9dc5 ^ out.head;
  for (let i = 0; i < used; i++) h = Math.imul(h ^ words[i], 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  out.hash = h | 0;
  return out;
}

export class SharedSlotTable {
  readonly shape: SharedSlotTableShape;
  /** The one buffer holding every stripe: hand it to another thread with the shape. */
  readonly buffer: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  /** Int32 / float64 words per row. */
  readonly rowWords: number;
  readonly strideF64: number;
  /** Where the meta words (head…) start in a row, in int32 words. */
  readonly #meta: number;
  readonly #stripeShift: number;
  readonly #mask: number;
  readonly #rowMask: number;
  readonly #indexWords: number;
  readonly #stripeWords: number;

  constructor(shape: SharedSlotTableShape, buffer?: SharedArrayBuffer) {
    this.shape = shape;
    const { numbers, stripes, capacity } = shape;
    this.#meta = numbers * 2;
    this.rowWords = this.#meta + META_WORDS;
    this.strideF64 = this.rowWords / 2;
    this.#indexWords = capacity * 2;
    this.#mask = capacity * 2 - 1;
    this.#rowMask = capacity - 1;
    // Control, index, then rows: rows start on an 8-byte boundary (CONTROL_WORDS and the
    // index sizes are even), so the float64 numbers are aligned.
    this.#stripeWords = CONTROL_WORDS + this.#indexWords + capacity * this.rowWords;
    this.#stripeShift = 32 - Math.log2(stripes);
    const bytes = stripes * this.#stripeWords * 4;
    this.buffer = buffer ?? new SharedArrayBuffer(bytes);
    if (this.buffer.byteLength !== bytes) {
      throw new RangeError(
        `shared table buffer is ${this.buffer.byteLength} bytes, expected ${bytes}`,
      );
    }
    this.i32 = new Int32Array(this.buffer);
    this.f64 = new Float64Array(this.buffer);
    if (buffer === undefined) for (let s = 0; s < stripes; s++) this.#resetControl(s);
  }

  /** The stripe a key's hash belongs to (its high bits; the index uses the low ones). */
  stripeOf(hash: number): number {
    return this.#stripeShift === 32 ? 0 : hash >>> this.#stripeShift;
  }

  /** Takes stripe `s`'s lock: a bounded spin, then sleeps until it is given back. */
  lock(s: number): void {
    const i32 = this.i32;
    const at = s * this.#stripeWords + LOCK;
    if (Atomics.compareExchange(i32, at, 0, 1) === 0) return;
    for (let i = 0; i < SPINS; i++) {
      if (Atomics.load(i32, at) === 0 && Atomics.compareExchange(i32, at, 0, 1) === 0) return;
    }
    // Mark "held with waiters" and sleep while it stays held; whoever wakes takes it as 2.
    while (Atomics.exchange(i32, at, 2) !== 0) Atomics.wait(i32, at, 2, 100);
  }

  /** Takes stripe `s`'s lock only if it is free now (never waits: safe while holding another). */
  tryLock(s: number): boolean {
    return Atomics.compareExchange(this.i32, s * this.#stripeWords + LOCK, 0, 1) === 0;
  }

  unlock(s: number): void {
    const at = s * this.#stripeWords + LOCK;
    if (Atomics.exchange(this.i32, at, 0) === 2) Atomics.notify(this.i32, at, 1);
  }

  /** Keys held by stripe `s` (exact under its lock, a snapshot otherwise). */
  sizeOf(s: number): number {
    return Atomics.load(this.i32, s * this.#stripeWords + SIZE);
  }

  /** Index in `f64` of number 0 of row `row` of stripe `s` (a stripe's rows are its own). */
  numbersAt(s: number, row: number): number {
    return (s * this.#stripeWords + CONTROL_WORDS + this.#indexWords + row * this.rowWords) / 2;
  }

  /** Index in `i32` of row `row`'s head word (its length and flags). */
  headAt(s: number, row: number): number {
    return (
      s * this.#stripeWords + CONTROL_WORDS + this.#indexWords + row * this.rowWords + this.#meta
    );
  }

  /** The row of stripe `s` (locked) holding `key`, or -1. */
  find(s: number, key: EncodedKey): number {
    const i32 = this.i32;
    const base = s * this.#stripeWords + CONTROL_WORDS;
    const mask = this.#mask;
    const h = key.hash;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = i32[base + i];
      if (e === 0) return -1;
      if (((e ^ h) & ~mask) !== 0) continue;
      const row = (e & mask) - 1;
      if (this.#holds(this.headAt(s, row), key)) return row;
    }
  }

  /**
   * Adds `key` (absent) to stripe `s` (locked) and returns its row, flags USED only; its
   * numbers are left for the caller to write. -1 when the stripe has no room left: the
   * caller evicts first (`evictOne`).
   */
  insert(s: number, key: EncodedKey): number {
    const i32 = this.i32;
    const ctl = s * this.#stripeWords;
    let row = i32[ctl + FREE];
    if (row !== NONE) i32[ctl + FREE] = i32[this.headAt(s, row) + NEXT];
    else {
      row = i32[ctl + FRESH];
      if (row > this.#rowMask) return NONE;
      i32[ctl + FRESH] = row + 1;
    }
    const at = this.headAt(s, row);
    const words = key.words;
    for (let w = 0; w < KEY_WORDS; w++) i32[at + KEY + w] = words[w];
    i32[at + HEAD] = key.head | USED;
    i32[at + HASH] = key.hash;
    this.#appendAge(s, row);
    // Index it.
    const base = ctl + CONTROL_WORDS;
    const mask = this.#mask;
    let i = key.hash & mask;
    while (i32[base + i] !== 0) i = (i + 1) & mask;
    i32[base + i] = (key.hash & ~mask) | (row + 1);
    i32[ctl + SIZE]++;
    return row;
  }

  /** Whether stripe `s` has never-used or free rows left. */
  hasRoom(s: number): boolean {
    const ctl = s * this.#stripeWords;
    return this.i32[ctl + FREE] !== NONE || this.i32[ctl + FRESH] <= this.#rowMask;
  }

  /**
   * Evicts stripe `s`'s (locked) oldest row not looked up since it was inserted or last
   * given a second chance; a row that was goes to the back of the line, its flag cleared.
   * False when the stripe is empty.
   */
  evictOne(s: number): boolean {
    const i32 = this.i32;
    const ctl = s * this.#stripeWords;
    for (let guard = i32[ctl + SIZE] + 1; guard > 0; guard--) {
      const oldest = i32[ctl + AGE_HEAD];
      if (oldest === NONE) return false;
      const at = this.headAt(s, oldest);
      if ((i32[at + HEAD] & REFERENCED) === 0) {
        this.#remove(s, oldest);
        return true;
      }
      i32[at + HEAD] &= ~REFERENCED;
      this.#unlinkAge(s, oldest);
      this.#appendAge(s, oldest);
    }
    return false;
  }

  /**
   * Frees rows of stripe `s` (locked) whose number `expiryCol` is ≤ now among its next
   * `steps` rows in use so far, going round. Returns how many it freed.
   *
   * Nothing at all while `now` is below the stripe's lower bound on its rows' expiries:
   * then no row can be dead, and looking at rows would only read lines that other
   * threads' cores hold (every row read is a cache line taken from the core that last
   * wrote it, the dominant cost of the shared table with two threads when the sweep read
   * two rows per operation for nothing). The bound is the least expiry the last full pass
   * met, lowered by every write of a lower expiry (`noteExpiry`), so it never exceeds the
   * expiry of a row held.
   */
  sweep(s: number, now: number, steps: number, expiryCol: number): number {
    const i32 = this.i32;
    const f64 = this.f64;
    const ctl = s * this.#stripeWords;
    const low = (ctl + LOW) >> 1;
    if (now < f64[low]) return 0;
    const fresh = i32[ctl + FRESH];
    if (i32[ctl + SIZE] === 0 || fresh === 0) return 0;
    const passLowAt = (ctl + PASS_LOW) >> 1;
    let passLow = f64[passLowAt];
    let c = i32[ctl + CURSOR];
    let freed = 0;
    for (let i = 0; i < steps; i++) {
      if (c >= fresh) {
        // A pass is over: every row held was met in it or written since it began.
        c = 0;
        f64[low] = passLow;
        passLow = Number.POSITIVE_INFINITY;
      }
      if ((i32[this.headAt(s, c) + HEAD] & USED) !== 0) {
        const expiry = f64[this.numbersAt(s, c) + expiryCol];
        if (expiry <= now) {
          this.#remove(s, c);
          freed++;
        } else if (expiry < passLow) passLow = expiry;
      }
      c++;
    }
    f64[passLowAt] = passLow;
    i32[ctl + CURSOR] = c;
    return freed;
  }

  /** Whether the sweep of stripe `s` would look at rows at `now` (a read without the lock: a hint). */
  sweepDue(s: number, now: number): boolean {
    return now >= this.f64[(s * this.#stripeWords + LOW) >> 1];
  }

  /** Tells stripe `s` (locked) that a row's expiry was set to `expiry` (keeps the sweep's bound). */
  noteExpiry(s: number, expiry: number): void {
    const f64 = this.f64;
    const ctl = s * this.#stripeWords;
    // Written only when lower: a stripe's rows' expiries mostly only grow.
    if (expiry < f64[(ctl + LOW) >> 1]) f64[(ctl + LOW) >> 1] = expiry;
    if (expiry < f64[(ctl + PASS_LOW) >> 1]) f64[(ctl + PASS_LOW) >> 1] = expiry;
  }

  /** Removes row `row` of stripe `s` (locked): a key whose state is back to nothing. */
  remove(s: number, row: number): void {
    this.#remove(s, row);
  }

  /** Rows of stripe `s` ever handed out (0…rowsUsed − 1): the range to scan for keys. */
  rowsUsed(s: number): number {
    return this.i32[s * this.#stripeWords + FRESH];
  }

  /** Whether row `row` of stripe `s` (locked) holds a key. */
  holdsKey(s: number, row: number): boolean {
    return (this.i32[this.headAt(s, row) + HEAD] & USED) !== 0;
  }

  /** Counts an operation on stripe `s` (locked); true every `every` operations. */
  countOperation(s: number, every: number): boolean {
    const at = s * this.#stripeWords + OPS;
    if (++this.i32[at] < every) return false;
    this.i32[at] = 0;
    return true;
  }

  /** Empties stripe `s` (locked). */
  clear(s: number): void {
    const start = s * this.#stripeWords + CONTROL_WORDS;
    this.i32.fill(
      0,
      start,
      start + this.#indexWords + this.i32[s * this.#stripeWords + FRESH] * this.rowWords,
    );
    this.#resetControl(s);
  }

  #resetControl(s: number): void {
    const i32 = this.i32;
    const ctl = s * this.#stripeWords;
    i32[ctl + SIZE] = 0;
    i32[ctl + FRESH] = 0;
    i32[ctl + FREE] = NONE;
    i32[ctl + AGE_HEAD] = NONE;
    i32[ctl + AGE_TAIL] = NONE;
    i32[ctl + CURSOR] = 0;
    i32[ctl + OPS] = 0;
    this.f64[(ctl + LOW) >> 1] = Number.POSITIVE_INFINITY;
    this.f64[(ctl + PASS_LOW) >> 1] = Number.POSITIVE_INFINITY;
  }

  #holds(at: number, key: EncodedKey): boolean {
    const i32 = this.i32;
    const head = i32[at + HEAD];
    if ((head & USED) === 0 || (head & KEY_MASK) !== key.head) return false;
    const words = key.words;
    for (let w = ((head & LENGTH_BITS) + 3) >> 2; w-- > 0; ) {
      if (i32[at + KEY + w] !== words[w]) return false;
    }
    return true;
  }

  /** Takes row `row` out of the index, the age list and the count; onto the free list. */
  #remove(s: number, row: number): void {
    const i32 = this.i32;
    const ctl = s * this.#stripeWords;
    const base = ctl + CONTROL_WORDS;
    const mask = this.#mask;
    const at = this.headAt(s, row);
    let i = i32[at + HASH] & mask;
    while ((i32[base + i] & mask) !== row + 1) i = (i + 1) & mask;
    // Backward shift: move up each later entry of the run that may sit at i.
    for (let j = (i + 1) & mask; i32[base + j] !== 0; j = (j + 1) & mask) {
      const e = i32[base + j];
      const home = i32[this.headAt(s, (e & mask) - 1) + HASH] & mask;
      if (((j - home) & mask) >= ((j - i) & mask)) {
        i32[base + i] = e;
        i = j;
      }
    }
    i32[base + i] = 0;
    this.#unlinkAge(s, row);
    i32[at + HEAD] = 0;
    i32[at + NEXT] = i32[ctl + FREE];
    i32[ctl + FREE] = row;
    i32[ctl + SIZE]--;
  }

  #appendAge(s: number, row: number): void {
    const i32 = this.i32;
    const ctl = s * this.#stripeWords;
    const at = this.headAt(s, row);
    const last = i32[ctl + AGE_TAIL];
    i32[at + PREV] = last;
    i32[at + NEXT] = NONE;
    if (last === NONE) i32[ctl + AGE_HEAD] = row;
    else i32[this.headAt(s, last) + NEXT] = row;
    i32[ctl + AGE_TAIL] = row;
  }

  #unlinkAge(s: number, row: number): void {
    const i32 = this.i32;
    const ctl = s * this.#stripeWords;
    const at = this.headAt(s, row);
    const prev = i32[at + PREV];
    const next = i32[at + NEXT];
    if (prev === NONE) i32[ctl + AGE_HEAD] = next;
    else i32[this.headAt(s, prev) + NEXT] = next;
    if (next === NONE) i32[ctl + AGE_TAIL] = prev;
    else i32[this.headAt(s, next) + PREV] = prev;
  }
}
