/**
 * The limit store whose state lives in shared memory, for worker threads that must
 * enforce one set of limits: the same answers as the memory store (the pure maths of
 * src/core/limiter, synchronous, the same eviction and key cap), but the rows are in
 * `SharedArrayBuffer`s (shared-slot-table.ts) that any thread can attach to, and every
 * operation is atomic per key across threads (the key's stripe is locked from look-up to
 * write-back, so no update is lost).
 *
 * Differences from the memory store, and why:
 * - Fixed capacity, allocated at construction (a shared buffer cannot be swapped for a
 *   larger one under other threads' feet): each kind (GCRA, window) has room for maxKeys
 *   keys spread over its stripes, plus slack for an uneven spread. Memory is committed
 *   by the operating system only as rows are first used.
 * - One table per kind, keyed by the whole key (namespace + id), not one per namespace:
 *   tables cannot be added while other threads run. Eviction at the cap therefore takes
 *   the oldest (second chance) key of the same kind and stripe, not of the same namespace.
 * - The cap is over all keys (counted per thread in slots of their own, summed: see
 *   LINE); at the cap an insert evicts from its own stripe, or, if that one is empty,
 *   from the first other stripe whose lock is free.
 * - Idle sweep: every SWEEP_EVERY operations on a stripe, SWEEP_STEPS × SWEEP_EVERY of its
 *   rows, plus SWEEP_EVERY rows of another stripe (of either kind) in turn if it is free;
 *   none while no row of the stripe can have expired yet (shared-slot-table.ts `sweep`).
 *
 * @example
 * const store = new SharedLimitStore({ maxKeys: 100_000 });
 * new Worker(url, { workerData: store.share() }); // in the worker:
 * const same = SharedLimitStore.attach(workerData); // the same limits
 * same.gcraIn('acct:', 'acme', clock.now(), 1, params);
 */
import { type GcraState, gcraUpdate } from '../core/limiter/gcra.ts';
import {
  type MutableWindowState,
  NEVER_WARNED,
  windowUpdate,
} from '../core/limiter/sliding-window.ts';
import type {
  GcraParams,
  GcraResult,
  LimitStore,
  WindowParams,
  WindowResult,
} from '../core/limiter/types.ts';
import {
  encodeKey,
  newEncodedKey,
  REFERENCED,
  SharedSlotTable,
  type SharedSlotTableShape,
  STORE_FLAG,
} from './shared-slot-table.ts';

export interface SharedLimitStoreOptions {
  /** Most keys held (both kinds together); the oldest are evicted past it. */
  readonly maxKeys?: number;
  /**
   * Stripes (locks) per kind, a power of two; by default up to 64, with at least 1,024
   * keys per stripe (so a small store evicts exactly in insertion order, as one table).
   */
  readonly stripes?: number;
}

/** What `share()` returns and `attach()` takes: structured-cloneable (postMessage). */
export interface SharedLimitStoreBuffers {
  readonly maxKeys: number;
  readonly gcraShape: SharedSlotTableShape;
  readonly windowShape: SharedSlotTableShape;
  readonly control: SharedArrayBuffer;
  readonly gcra: SharedArrayBuffer;
  readonly window: SharedArrayBuffer;
}

/** Rows the sweep looks at per operation in the stripe in use. */
const SWEEP_STEPS = 2;
/** Operations on a stripe between two sweeps. */
const SWEEP_EVERY = 8;
const MAX_STRIPES = 64;
const KEYS_PER_STRIPE = 1024;

// GCRA numbers: the tat (also its expiry). Window numbers: start, prev, curr, expiry.
const TAT = 0;
const START = 0;
const PREV = 1;
const CURR = 2;
const EXPIRES = 3;
/** The window's warning of window `start` was reported. */
const WARNED = STORE_FLAG;

/**
 * The count of keys held, for the cap and size(). Not one word that every thread updates:
 * an idle key is swept and later inserted again, so that word would be written on nearly
 * every decision by every thread, and a word written by two cores in turn moves its cache
 * line between them each time. Instead each store object (one per thread) takes a slot of
 * its own, one cache line, where it adds what it inserts and removes: the line stays in
 * its core's cache. The keys held are the sum of the slots taken (a dead thread's slot
 * keeps counting the rows it left, so the sum stays exact). An insert compares with the
 * cap a sum read at most COUNT_EVERY changes ago plus this thread's changes since: other
 * threads' last few dozen changes may be missed (a few dozen keys over a cap of a million).
 * Control layout (int32 words): [0] slots handed out; slot i at (i + 1) × LINE.
 */
const LINE = 16;
const SLOTS = 64;
const TAKEN = 0;
/** This thread's changes after which an insert reads the other slots again. */
const COUNT_EVERY = 32;

function powerOfTwoAtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** The largest power of two ≤ n, and at least 1. */
function powerOfTwoAtMost(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

export class SharedLimitStore implements LimitStore {
  readonly maxKeys: number;
  readonly #control: Int32Array;
  readonly #gcra: SharedSlotTable;
  readonly #window: SharedSlotTable;
  readonly #buffers: SharedLimitStoreBuffers;
  /** This thread's turn in the sweep of other stripes (0…2 × stripes). */
  #turn = 0;
  /** This store object's count slot (its word in `#control`). */
  readonly #slot: number;
  /** The sum of the slots when last read, plus this thread's changes since. */
  #estimate = 0;
  /** This thread's changes since the slots were last read. */
  #changes = 0;
  // Per-thread scratch: the key packed, and the numbers loaded from a row.
  readonly #key = newEncodedKey();
  readonly #g: GcraState = { tat: undefined };
  readonly #w: MutableWindowState = { start: 0, prev: 0, curr: 0, warnedStart: NEVER_WARNED };

  constructor(options: SharedLimitStoreOptions = {}, attachTo?: SharedLimitStoreBuffers) {
    if (attachTo !== undefined) {
      this.#buffers = attachTo;
      this.maxKeys = attachTo.maxKeys;
    } else {
      const maxKeys = Math.max(1, Math.floor(options.maxKeys ?? 1_000_000));
      const stripes =
        options.stripes ?? Math.min(MAX_STRIPES, powerOfTwoAtMost(maxKeys / KEYS_PER_STRIPE));
      if (!Number.isInteger(stripes) || stripes < 1 || (stripes & (stripes - 1)) !== 0) {
        throw new RangeError(`stripes must be a power of two, got ${stripes}`);
      }
      // Slack for an uneven spread of keys over stripes: a quarter, and at least 8 rows.
      const perStripe = Math.ceil(maxKeys / stripes);
      const capacity = powerOfTwoAtLeast(
        stripes === 1 ? perStripe : perStripe + (perStripe >> 2) + 8,
      );
      const gcraShape = { numbers: 1, stripes, capacity };
      const windowShape = { numbers: 4, stripes, capacity };
      this.maxKeys = maxKeys;
      this.#buffers = {
        maxKeys,
        gcraShape,
        windowShape,
        control: new SharedArrayBuffer((SLOTS + 1) * LINE * 4),
        gcra: new SharedSlotTable(gcraShape).buffer,
        window: new SharedSlotTable(windowShape).buffer,
      };
    }
    const b = this.#buffers;
    this.#control = new Int32Array(b.control);
    // Past SLOTS store objects, slots are shared (still exact: they are added atomically).
    this.#slot = ((Atomics.add(this.#control, TAKEN, 1) % SLOTS) + 1) * LINE;
    this.#estimate = this.size();
    this.#gcra = new SharedSlotTable(b.gcraShape, b.gcra);
    this.#window = new SharedSlotTable(b.windowShape, b.window);
  }

  /**
   * This store's state in another thread (the buffers from `share()`, e.g. as workerData).
   *
   * @example
   * const store = SharedLimitStore.attach(workerData.limits);
   */
  static attach(buffers: SharedLimitStoreBuffers): SharedLimitStore {
    return new SharedLimitStore({}, buffers);
  }

  /** The buffers and shapes another thread needs to `attach` to the same state. */
  share(): SharedLimitStoreBuffers {
    return this.#buffers;
  }

  gcra(key: string, now: number, cost: number, params: GcraParams): GcraResult {
    return this.gcraIn('', key, now, cost, params);
  }

  window(key: string, now: number, cost: number, params: WindowParams): WindowResult {
    return this.windowIn('', key, now, cost, params);
  }

  gcraIn(namespace: string, id: string, now: number, cost: number, params: GcraParams): GcraResult {
    const t = this.#gcra;
    const key = encodeKey(namespace, id, this.#key);
    const s = t.stripeOf(key.hash);
    const g = this.#g;
    let result: GcraResult;
    t.lock(s);
    try {
      let row = t.find(s, key);
      if (row < 0) g.tat = undefined;
      else {
        g.tat = t.f64[t.numbersAt(s, row) + TAT];
        // Written only when it changes: a write takes the line from another core's cache.
        const head = t.headAt(s, row);
        if ((t.i32[head] & REFERENCED) === 0) t.i32[head] |= REFERENCED;
      }
      result = gcraUpdate(g, now, cost, params);
      if (result.allowed) {
        if (row < 0) row = this.#insert(t, s);
        if (row >= 0) {
          t.f64[t.numbersAt(s, row) + TAT] = g.tat!;
          t.noteExpiry(s, g.tat!);
        }
      }
      this.#sweepOwn(t, s, now, TAT);
    } finally {
      t.unlock(s);
    }
    this.#sweepOther(now);
    return result;
  }

  windowIn(
    namespace: string,
    id: string,
    now: number,
    cost: number,
    params: WindowParams,
  ): WindowResult {
    const t = this.#window;
    const key = encodeKey(namespace, id, this.#key);
    const s = t.stripeOf(key.hash);
    const w = this.#w;
    let result: WindowResult;
    t.lock(s);
    try {
      let row = t.find(s, key);
      if (row < 0) {
        w.start = Number.NEGATIVE_INFINITY; // no state
        w.prev = 0;
        w.curr = 0;
        w.warnedStart = NEVER_WARNED;
      } else {
        const at = t.numbersAt(s, row);
        w.start = t.f64[at + START];
        w.prev = t.f64[at + PREV];
        w.curr = t.f64[at + CURR];
        const head = t.headAt(s, row);
        w.warnedStart = (t.i32[head] & WARNED) !== 0 ? w.start : NEVER_WARNED;
        if ((t.i32[head] & REFERENCED) === 0) t.i32[head] |= REFERENCED;
      }
      result = windowUpdate(w, now, cost, params);
      if (result.allowed) {
        if (row < 0) row = this.#insert(t, s);
        if (row >= 0) {
          const at = t.numbersAt(s, row);
          t.f64[at + START] = w.start;
          t.f64[at + PREV] = w.prev;
          t.f64[at + CURR] = w.curr;
          t.f64[at + EXPIRES] = w.start + 2 * params.periodMs;
          t.noteExpiry(s, w.start + 2 * params.periodMs);
          // Only "warned in the current window" matters, so one bit stands for warnedStart.
          const head = t.headAt(s, row);
          const flags = w.warnedStart === w.start ? t.i32[head] | WARNED : t.i32[head] & ~WARNED;
          if (flags !== t.i32[head]) t.i32[head] = flags;
        }
      }
      this.#sweepOwn(t, s, now, EXPIRES);
    } finally {
      t.unlock(s);
    }
    this.#sweepOther(now);
    return result;
  }

  /** Keys held (by every thread; exact when no other thread is changing them). */
  size(): number {
    const control = this.#control;
    const taken = Math.min(SLOTS, Atomics.load(control, TAKEN));
    let sum = 0;
    // A slot only ever grows in one thread that inserts what another sweeps, so it wraps
    // round int32 in time (2^31 changes); the sum taken modulo 2^32 is still the count.
    for (let i = 1; i <= taken; i++) sum = (sum + Atomics.load(control, i * LINE)) | 0;
    return sum;
  }

  /** Counts `n` keys added (or removed, negative) by this thread in its own slot. */
  #count(n: number): void {
    Atomics.add(this.#control, this.#slot, n);
    this.#estimate += n;
    this.#changes++;
  }

  /** Whether the keys held are at the cap, by the estimate, read again every COUNT_EVERY changes. */
  #atCap(): boolean {
    if (this.#changes >= COUNT_EVERY) {
      this.#changes = 0;
      this.#estimate = this.size();
    }
    return this.#estimate >= this.maxKeys;
  }

  /**
   * Empties the store, for every thread attached to it (the rows removed are counted in
   * this thread's slot, so the sum of the slots is 0).
   */
  close(): void {
    for (const t of [this.#gcra, this.#window]) {
      for (let s = 0; s < t.shape.stripes; s++) {
        t.lock(s);
        this.#count(-t.sizeOf(s));
        t.clear(s);
        t.unlock(s);
      }
    }
  }

  /**
   * Adds the key in scratch to stripe `s` of `t` (locked), evicting first at the cap or
   * when the stripe is full. -1 only if no row could be freed (not expected: the stripe
   * always has room for its share of the cap).
   */
  #insert(t: SharedSlotTable, s: number): number {
    if (this.#atCap() || !t.hasRoom(s)) {
      if (t.evictOne(s)) this.#count(-1);
      else if (t.hasRoom(s)) this.#evictElsewhere(t, s);
    }
    const row = t.insert(s, this.#key);
    if (row >= 0) this.#count(1);
    return row;
  }

  /**
   * At the cap with an empty stripe of its own: evicts from the first other stripe (this
   * kind, then the other) whose lock is free now. A try, never a wait, so two threads
   * each holding a stripe cannot deadlock; if every other stripe is busy the insert goes
   * over the cap by one key, until the next insert or sweep.
   */
  #evictElsewhere(own: SharedSlotTable, s: number): void {
    for (const t of own === this.#gcra ? [this.#gcra, this.#window] : [this.#window, this.#gcra]) {
      for (let o = 0; o < t.shape.stripes; o++) {
        if ((t === own && o === s) || t.sizeOf(o) === 0 || !t.tryLock(o)) continue;
        const evicted = t.evictOne(o);
        t.unlock(o);
        if (evicted) {
          this.#count(-1);
          return;
        }
      }
    }
  }

  #sweepOwn(t: SharedSlotTable, s: number, now: number, expiryCol: number): void {
    if (!t.countOperation(s, SWEEP_EVERY)) return;
    const freed = t.sweep(s, now, SWEEP_STEPS * SWEEP_EVERY, expiryCol);
    if (freed > 0) this.#count(-freed);
    this.#otherDue = true;
  }

  /** Set by a sweep of the stripe in use: a few rows of another stripe are due, after it. */
  #otherDue = false;

  /** Sweeps SWEEP_EVERY rows of the next stripe (of either kind) in turn, if its lock is free. */
  #sweepOther(now: number): void {
    if (!this.#otherDue) return;
    this.#otherDue = false;
    const stripes = this.#gcra.shape.stripes;
    this.#turn = this.#turn + 1 < 2 * stripes ? this.#turn + 1 : 0;
    const gcra = this.#turn < stripes;
    const t = gcra ? this.#gcra : this.#window;
    const s = this.#turn % stripes;
    if (t.sizeOf(s) === 0 || !t.sweepDue(s, now) || !t.tryLock(s)) return;
    const freed = t.sweep(s, now, SWEEP_EVERY, gcra ? TAT : EXPIRES);
    t.unlock(s);
    if (freed > 0) this.#count(-freed);
  }
}
