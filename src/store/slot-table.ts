/**
 * One kind of limiter state in one namespace of the memory store: key → a row of numbers
 * (slot-rows.ts), found through a Map while the table is small and through an index of
 * its own once it is large.
 *
 * Why two: below INDEX_FROM rows everything stays in the cache and a Map finds a key by
 * the hash V8 keeps in the string, which beats hashing it again. At a million keys nearly
 * every memory access is a cache (and TLB) miss, and a Map lookup is three in a row
 * (bucket, entry, then the numbers); here the numbers sit beside the key itself, and a
 * lookup reads two places at once:
 *
 * - A key's home row is `hash & (capacity − 1)`: an insert takes it when it is free (at a
 *   full table about half the keys sit at home), else any free row.
 * - Index: open addressing with linear probing over an Int32Array twice the rows'
 *   capacity (load ≤ ½). An entry is the row number + 1 in the low bits and the high bits
 *   of the key's hash as a tag, so a probe rarely reads a row that is not the key's.
 *   Deletion shifts the following entries back (no tombstones, no rebuilds).
 * - `find` loads the key's first index entry and its home row together, so the two cache
 *   misses overlap; a key at home is found without waiting for the index. `expect` starts
 *   those loads earlier still, while the caller does other work.
 * Whichever way a row is found, the whole key is compared (words or string) before the row
 * is used: two keys never share a row, whatever their hashes.
 *
 * @example
 * const t = new SlotTable('ip:', false, 4, 64, 3, 256);
 * let slot = t.find('203.0.113.9'); // -1: absent
 * if (slot < 0) slot = t.insert('203.0.113.9');
 * t.rows.f64[slot * t.rows.strideF64 + 1] = 5;
 * t.rows.i32[t.rows.headAt(slot)] |= REFERENCED;
 */
import { PACKED_WORDS, packKey } from './key-hash.ts';
import { NONE, REFERENCED, SlotRows } from './slot-rows.ts';

export { REFERENCED, USED } from './slot-rows.ts';

/** Rows from which a table uses its own index rather than a Map (4 MB of window rows). */
export const INDEX_FROM = 1 << 16;

export class SlotTable {
  readonly namespace: string;
  /** The table of namespaces past the limit: its keys include their namespace. */
  readonly shared: boolean;
  readonly rows: SlotRows;
  /** Where `expect` puts what it loads, so that the loads are not optimised away. */
  touched = 0;
  /** Operations since the last sweep (kept by the store). */
  operations = 0;
  /** Where `expect`'s caller packs the key it announces (see key-hash.ts). */
  readonly nextWords = new Int32Array(PACKED_WORDS);
  readonly #indexFrom: number;
  /** Below indexFrom rows: key → row, and row → key. */
  #map: Map<string, number> | undefined;
  #keys: (string | undefined)[] | undefined;
  /** From indexFrom rows: the index (see above); its mask, and the rows' mask. */
  #index = new Int32Array(0);
  #mask = 0;
  #rowMask: number;
  #size = 0;
  /** The next row the sweep looks at. */
  #cursor = 0;
  /** The key announced by `expect`, and its hash (its words are in nextWords). */
  #nextKey: string | undefined;
  #nextHash = 0;
  /** Where `find` packs other keys; the key it looked up last, its hash and words. */
  readonly #words = new Int32Array(PACKED_WORDS);
  #lastKey: string | undefined;
  #lastHash = 0;
  #lastWords: Int32Array = this.#words;

  constructor(
    namespace: string,
    shared: boolean,
    numbers: number,
    rowBytes: number,
    expiryCol: number,
    initialCapacity: number,
    indexFrom = INDEX_FROM,
  ) {
    this.namespace = namespace;
    this.shared = shared;
    let capacity = 1;
    while (capacity < initialCapacity) capacity *= 2;
    this.rows = new SlotRows(numbers, rowBytes, expiryCol, capacity);
    this.#rowMask = capacity - 1;
    this.#indexFrom = indexFrom;
    if (capacity < indexFrom) {
      this.#map = new Map();
      this.#keys = [];
    } else this.#reindex(0);
  }

  get size(): number {
    return this.#size;
  }

  get capacity(): number {
    return this.#rowMask + 1;
  }

  /** Whether the table has its own index (from indexFrom rows on) rather than a Map. */
  get indexed(): boolean {
    return this.#map === undefined;
  }

  /**
   * Announces that `find(key)` comes next (`hash` = its hash, its words packed into
   * `nextWords`): starts loading its index entry and home row without waiting for them.
   */
  expect(key: string, hash: number): void {
    if (this.#map !== undefined) return;
    this.#nextKey = key;
    this.#nextHash = hash;
    const home = this.rows.i32[this.rows.headAt(hash & this.#rowMask)];
    this.touched = this.#index[hash & this.#mask] ^ home;
  }

  /** The row holding `key`, or -1. */
  find(key: string): number {
    const map = this.#map;
    if (map !== undefined) return map.get(key) ?? -1;
    let h: number;
    let words: Int32Array;
    if (key === this.#nextKey) {
      h = this.#nextHash;
      words = this.nextWords;
    } else {
      words = this.#words;
      h = packKey(key, words);
    }
    this.#lastKey = key;
    this.#lastHash = h;
    this.#lastWords = words;
    const index = this.#index;
    const mask = this.#mask;
    // Both loads are issued before either is needed: their misses overlap.
    let e = index[h & mask];
    const home = h & this.#rowMask;
    if (this.rows.holds(home, key, words)) return home;
    for (let i = h & mask; e !== 0; ) {
      const slot = (e & mask) - 1;
      if (((e ^ h) & ~mask) === 0 && this.rows.holds(slot, key, words)) return slot;
      i = (i + 1) & mask;
      e = index[i];
    }
    return -1;
  }

  /** Adds `key` (absent) and returns its row, flags USED only. Cheaper right after `find(key)`. */
  insert(key: string): number {
    // (nextWords may have been rewritten since find used them, by another announcement.)
    if (key !== this.#lastKey || (this.#lastWords === this.nextWords && key !== this.#nextKey)) {
      this.#lastKey = key;
      this.#lastHash = packKey(key, this.#words);
      this.#lastWords = this.#words;
    }
    const hash = this.#lastHash;
    const rows = this.rows;
    if (rows.free[0] === NONE) this.#grow();
    let slot = hash & this.#rowMask;
    if (rows.inUse(slot)) slot = rows.free[0];
    rows.take(slot, key, this.#lastWords);
    if (this.#map !== undefined) {
      this.#map.set(key, slot);
      this.#keys![slot] = key;
    } else this.#place(hash, slot);
    this.#size++;
    return slot;
  }

  /**
   * Frees rows whose expiry is ≤ now among the next `steps` rows, going round; a block
   * of rows none of which can have expired is passed over in one step. No allocation:
   * this runs every few operations.
   */
  sweep(now: number, steps: number): void {
    if (this.#size === 0) return;
    const rows = this.rows;
    const block = rows.blockMask;
    let c = this.#cursor;
    for (let i = 0; i < steps; i++) {
      if ((c & block) === 0 && !rows.blockMayHaveExpired(c, now)) {
        c = (c + block + 1) & this.#rowMask;
        continue;
      }
      if (rows.inUse(c)) {
        if (rows.expiry(c) <= now) this.#remove(c);
        else rows.noteLive(c);
      }
      c = (c + 1) & this.#rowMask;
    }
    this.#cursor = c;
  }

  /**
   * Evicts the oldest row not looked up since it was inserted or last given a second
   * chance; a row that was goes to the back of the line instead, its flag cleared.
   */
  evictOne(): void {
    const rows = this.rows;
    for (let guard = this.#size + 1; guard > 0; guard--) {
      const oldest = rows.age[0];
      if (oldest === NONE) return;
      const at = rows.headAt(oldest);
      if ((rows.i32[at] & REFERENCED) === 0) {
        this.#remove(oldest);
        return;
      }
      rows.i32[at] &= ~REFERENCED;
      rows.requeue(oldest);
    }
  }

  clear(): void {
    this.rows.reset();
    this.#index.fill(0);
    this.#map?.clear();
    if (this.#keys !== undefined) this.#keys = [];
    this.#size = 0;
    this.#cursor = 0;
  }

  #remove(slot: number): void {
    if (this.#map !== undefined) {
      this.#map.delete(this.#keys![slot]!);
      this.#keys![slot] = undefined;
    } else this.#unindex(slot);
    this.rows.release(slot);
    this.#size--;
  }

  /** Puts row `slot` (hash `hash`) in the first free index entry of its probe run. */
  #place(hash: number, slot: number): void {
    const index = this.#index;
    const mask = this.#mask;
    let i = hash & mask;
    while (index[i] !== 0) i = (i + 1) & mask;
    index[i] = (hash & ~mask) | (slot + 1);
  }

  /** Takes row `slot` out of the index. */
  #unindex(slot: number): void {
    const index = this.#index;
    const mask = this.#mask;
    let i = this.rows.hashOf(slot) & mask;
    while ((index[i] & mask) !== slot + 1) i = (i + 1) & mask;
    // Backward shift: move up each later entry of the run that may sit at i.
    for (let j = (i + 1) & mask; index[j] !== 0; j = (j + 1) & mask) {
      const e = index[j];
      const home = this.rows.hashOf((e & mask) - 1) & mask;
      if (((j - home) & mask) >= ((j - i) & mask)) {
        index[i] = e;
        i = j;
      }
    }
    index[i] = 0;
  }

  /** Doubles the rows; from indexFrom rows on, (re)builds the index in place of the Map. */
  #grow(): void {
    const old = this.capacity;
    this.rows.grow();
    this.#rowMask = this.rows.capacity - 1;
    this.#cursor = 0;
    if (this.rows.capacity >= this.#indexFrom) {
      this.#map = undefined;
      this.#keys = undefined;
      this.#reindex(old);
    }
    this.rows.rebuild();
  }

  /**
   * A new index for the rows in use, all below `used` (the capacity before the rows
   * doubled, or 0). A row at home whose home is now its place in the new half moves there,
   * so it stays at home; the others stay put. In row order, rows at home fill the index
   * nearly in order too (their entries sit at their row or one capacity further): the
   * writes stream instead of missing the cache one by one.
   */
  #reindex(used: number): void {
    const capacity = this.capacity;
    const rows = this.rows;
    this.#index = new Int32Array(capacity * 2);
    this.#mask = capacity * 2 - 1;
    for (let s = 0; s < used; s++) {
      if (!rows.inUse(s)) continue;
      const h = rows.hashOf(s);
      const home = h & this.#rowMask;
      let slot = s;
      // (A row moved to a free home between s and `used` would be met, and indexed, again.)
      if (home !== s && (home < s || home >= used) && !rows.inUse(home)) {
        rows.move(s, home);
        slot = home;
      }
      this.#place(h, slot);
    }
  }
}
