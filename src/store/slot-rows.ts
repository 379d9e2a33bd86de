/**
 * The rows of one SlotTable (slot-table.ts), in one ArrayBuffer, so that a million keys
 * are a few large buffers and nothing for the garbage collector to trace. A row is
 * [numbers as float64] [key as int32 words] [prev, next: int32]:
 *
 * - The key's first word holds its length (low 5 bits), the row's flags (bits 5–7) and
 *   its first three characters; the next words four characters each (key-hash.ts packs a
 *   key the same way, so a key is compared in a few word compares). A key that does not
 *   fit (longer than the words hold, or not Latin-1) is kept as a string beside the row
 *   (length UNPACKED), which costs one more cache miss to compare.
 * - Every row is on one of two doubly linked lists, through prev/next: `free`, or `age`,
 *   the rows in use from the oldest insert to the newest (the eviction order).
 * - Per block of 64 rows, a lower bound of the least expiry of its rows in use, so that
 *   the sweep passes over a block none of whose rows can have expired without reading it.
 *
 * Capacity is a power of two; the owner doubles it when no row is free.
 *
 * @example
 * const rows = new SlotRows(1, 32, 0, 256); // GCRA: one number (the tat), 32-byte rows
 * const slot = rows.free[0];
 * rows.take(slot, 'acme', words); // words: packKey('acme', words)
 * rows.setExpiry(slot, tat);
 */
import { hashKey, hashPacked, MAX_PACKED, UNPACKED } from './key-hash.ts';

// Flag bits of a row, in its key's first word (the store adds its own: bit 7).
/** The row holds a key. */
export const USED = 1 << 5;
/** Looked up since inserted or last given a second chance by the eviction. */
export const REFERENCED = 1 << 6;
/** Bits of a key's first word that are flags, not key. */
const FLAG_BITS = 0xe0;
const LENGTH_BITS = 31;
/** The end of a list. */
export const NONE = -1;
/** Rows per sweep block (log2). */
const BLOCK_SHIFT = 6;

/** The ends of a doubly linked list of rows: [first, last]. */
export type RowList = [number, number];

export class SlotRows {
  /** Float64 view: number j of row s is `f64[s * strideF64 + j]`. */
  f64: Float64Array;
  /** Int32 view: row s's flags are in `i32[headAt(s)]`. */
  i32: Int32Array;
  readonly strideF64: number;
  readonly free: RowList = [NONE, NONE];
  readonly age: RowList = [NONE, NONE];
  /** Int32 words per row, and offsets in them: the key's first word, the links. */
  readonly #rowWords: number;
  readonly #head: number;
  readonly #prev: number;
  readonly #next: number;
  /** Longest key held in the row's words. */
  readonly #keyRoom: number;
  readonly #expiryCol: number;
  #long: (string | undefined)[] | undefined;
  /** Per block of 2^#blockShift rows: at most the least expiry of its rows in use. */
  #blockMin: Float64Array;
  #blockShift: number;

  constructor(numbers: number, rowBytes: number, expiryCol: number, capacity: number) {
    this.strideF64 = rowBytes / 8;
    this.#rowWords = rowBytes / 4;
    this.#head = numbers * 2;
    this.#next = this.#rowWords - 1;
    this.#prev = this.#next - 1;
    this.#keyRoom = Math.min(MAX_PACKED, (this.#prev - this.#head) * 4 - 1);
    this.#expiryCol = expiryCol;
    const buffer = new ArrayBuffer(capacity * rowBytes);
    this.f64 = new Float64Array(buffer);
    this.i32 = new Int32Array(buffer);
    this.#blockShift = 0;
    this.#blockMin = new Float64Array(0);
    this.reset();
  }

  get capacity(): number {
    return this.i32.length / this.#rowWords;
  }

  /** Index in `i32` of row `slot`'s first key word, which holds its flags. */
  headAt(slot: number): number {
    return slot * this.#rowWords + this.#head;
  }

  inUse(slot: number): boolean {
    return (this.i32[this.headAt(slot)] & USED) !== 0;
  }

  expiry(slot: number): number {
    return this.f64[slot * this.strideF64 + this.#expiryCol];
  }

  /** Sets row `slot`'s expiry (its number `expiryCol`), the one the sweep compares. */
  setExpiry(slot: number, expiry: number): void {
    this.f64[slot * this.strideF64 + this.#expiryCol] = expiry;
    const b = slot >> this.#blockShift;
    if (expiry < this.#blockMin[b]) this.#blockMin[b] = expiry;
  }

  /**
   * From row `c` (a block's first row): false when no row of the block can have expired
   * by `now`, else true, and the block's bound is reset for the sweep's pass to rebuild
   * (with `noteLive`) as it reads the block's rows.
   */
  blockMayHaveExpired(c: number, now: number): boolean {
    const b = c >> this.#blockShift;
    if (this.#blockMin[b] > now) return false;
    this.#blockMin[b] = Infinity;
    return true;
  }

  /** Rows per block, minus one. */
  get blockMask(): number {
    return (1 << this.#blockShift) - 1;
  }

  /** Row `slot` (in use) did not expire: its block's bound takes it into account. */
  noteLive(slot: number): void {
    this.setExpiry(slot, this.expiry(slot));
  }

  /**
   * Puts `key` (packed in `words`, as packKey left them) in the free row `slot`, flags
   * USED, and moves the row from the free list to the back of the age list.
   */
  take(slot: number, key: string, words: Int32Array): void {
    this.#unlink(this.free, slot);
    this.#append(this.age, slot);
    const i32 = this.i32;
    const at = this.headAt(slot);
    const n = words[0] & LENGTH_BITS;
    if (n <= this.#keyRoom) {
      for (let w = (n + 4) >> 2; w-- > 0; ) i32[at + w] = words[w];
      i32[at] |= USED;
    } else {
      i32[at] = UNPACKED | USED;
      this.#long ??= new Array<string | undefined>(this.capacity).fill(undefined);
      this.#long[slot] = key;
    }
  }

  /** Empties row `slot` and puts it back on the free list. */
  release(slot: number): void {
    const at = this.headAt(slot);
    if ((this.i32[at] & LENGTH_BITS) === UNPACKED) this.#long![slot] = undefined;
    this.i32[at] = 0;
    this.#unlink(this.age, slot);
    this.#append(this.free, slot);
  }

  /** Moves row `slot` to the back of the age list. */
  requeue(slot: number): void {
    this.#unlink(this.age, slot);
    this.#append(this.age, slot);
  }

  /** Whether row `slot` is in use and holds `key` (packed in `words`): all of it compared. */
  holds(slot: number, key: string, words: Int32Array): boolean {
    const i32 = this.i32;
    const at = this.headAt(slot);
    const head = i32[at];
    if ((head & USED) === 0) return false;
    const n = head & LENGTH_BITS;
    if (n === UNPACKED) return this.#long![slot] === key;
    if ((head & ~FLAG_BITS) !== words[0]) return false; // the length and 3 characters
    for (let w = (n + 4) >> 2; --w > 0; ) if (i32[at + w] !== words[w]) return false;
    return true;
  }

  /** The hash of the key in row `slot` (recomputed: rows do not store it). */
  hashOf(slot: number): number {
    const at = this.headAt(slot);
    if ((this.i32[at] & LENGTH_BITS) === UNPACKED) return hashKey(this.#long![slot]!);
    return hashPacked(this.i32, at);
  }

  /** Doubles the rows; the new ones are not on any list until `rebuild()`. */
  grow(): void {
    const i32 = new Int32Array(this.i32.length * 2);
    i32.set(this.i32);
    this.i32 = i32;
    this.f64 = new Float64Array(i32.buffer);
    const long = this.#long;
    if (long !== undefined) while (long.length < this.capacity) long.push(undefined);
  }

  /** Moves the row in use `from` to the free row `to` (off the lists), in its place in age. */
  move(from: number, to: number): void {
    const i32 = this.i32;
    const words = this.#rowWords;
    for (let w = 0; w < words; w++) i32[to * words + w] = i32[from * words + w];
    i32[this.headAt(from)] = 0;
    const prev = i32[to * words + this.#prev];
    const next = i32[to * words + this.#next];
    if (prev === NONE) this.age[0] = to;
    else i32[prev * words + this.#next] = to;
    if (next === NONE) this.age[1] = to;
    else i32[next * words + this.#prev] = to;
    if (this.#long !== undefined) {
      this.#long[to] = this.#long[from];
      this.#long[from] = undefined;
    }
  }

  /** After `grow` (and moves): every row not in use on the free list, bounds recomputed. */
  rebuild(): void {
    const capacity = this.capacity;
    this.#blockShift = Math.min(BLOCK_SHIFT, Math.log2(capacity));
    this.#blockMin = new Float64Array(capacity >> this.#blockShift).fill(Infinity);
    this.free[0] = NONE;
    this.free[1] = NONE;
    for (let s = 0; s < capacity; s++) {
      if (!this.inUse(s)) this.#append(this.free, s);
      else this.noteLive(s);
    }
  }

  /** Empties every row. */
  reset(): void {
    this.i32.fill(0);
    this.#long = undefined;
    this.age[0] = NONE;
    this.age[1] = NONE;
    this.rebuild();
  }

  /** Appends row `slot` to `list`. */
  #append(list: RowList, slot: number): void {
    const i32 = this.i32;
    const last = list[1];
    i32[slot * this.#rowWords + this.#prev] = last;
    i32[slot * this.#rowWords + this.#next] = NONE;
    if (last === NONE) list[0] = slot;
    else i32[last * this.#rowWords + this.#next] = slot;
    list[1] = slot;
  }

  #unlink(list: RowList, slot: number): void {
    const i32 = this.i32;
    const prev = i32[slot * this.#rowWords + this.#prev];
    const next = i32[slot * this.#rowWords + this.#next];
    if (prev === NONE) list[0] = next;
    else i32[prev * this.#rowWords + this.#next] = next;
    if (next === NONE) list[1] = prev;
    else i32[next * this.#rowWords + this.#prev] = prev;
  }
}
