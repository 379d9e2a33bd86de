/**
 * Counters of things held right now (requests in flight, places in a queue) per key, in
 * shared memory, for worker threads that must enforce one cap together: an account's
 * concurrency, its queue, an IP's held requests. A row per key counts the total and, per
 * lane (one lane per worker thread), what that lane holds, so when a thread dies the
 * supervisor gives back exactly what it held (`releaseLane`) and no key stays blocked.
 *
 * Rows live in a SharedSlotTable (shared-slot-table.ts): a key's stripe is locked from
 * look-up to write-back, so a take never overshoots its cap and no give is lost. A row is
 * removed when its total is back to 0, so memory follows what is held now.
 *
 * At the capacity (every row of a stripe holding something, far past any real load) a
 * take is let through uncounted: failing open, as the gateway does when its limit store
 * fails, rather than refusing callers for lack of room (refusing would turn a table sized
 * too small, or a flood from very many IPs, into 429s for every new account). But not
 * silently: each is counted, for all threads together (`uncounted()`), and `onUncounted`
 * is called, so the gateway logs it and counts it in a metric: a cap that is not being
 * enforced is something an operator must see.
 *
 * @example
 * const counters = new SharedCounters({ lanes: 2 });
 * counters.take('run:', 'acme', 4, 0); // true: lane 0 holds 1 of acme's 4
 * const other = SharedCounters.attach(counters.share()); // in another thread
 * other.held('run:', 'acme'); // 1
 * counters.releaseLane(0); // lane 0's thread died: acme holds 0 again
 */
import {
  encodeKey,
  newEncodedKey,
  SharedSlotTable,
  type SharedSlotTableShape,
} from './shared-slot-table.ts';

/** What `share()` returns and `attach()` takes: structured-cloneable (postMessage). */
export interface SharedCountersBuffers {
  readonly lanes: number;
  readonly shape: SharedSlotTableShape;
  readonly buffer: SharedArrayBuffer;
  /** One int32: takes let through uncounted, all threads together. */
  readonly uncounted: SharedArrayBuffer;
}

export interface SharedCountersOptions {
  /** Threads that take and give (each gets a lane number, 0…lanes − 1). */
  readonly lanes: number;
  /** Keys held at once per stripe (a power of two); 4,096 by default. */
  readonly capacity?: number;
  /** Stripes (locks), a power of two; 16 by default. */
  readonly stripes?: number;
}

const TOTAL = 0;

export class SharedCounters {
  readonly lanes: number;
  readonly #table: SharedSlotTable;
  readonly #buffers: SharedCountersBuffers;
  readonly #key = newEncodedKey();
  readonly #uncounted: Int32Array;
  /** Called (in the thread that took) when a take is let through uncounted, with `namespace`. */
  onUncounted: ((namespace: string) => void) | undefined;

  constructor(options: SharedCountersOptions, attachTo?: SharedCountersBuffers) {
    if (attachTo !== undefined) this.#buffers = attachTo;
    else {
      const lanes = Math.max(1, Math.floor(options.lanes));
      const shape = {
        numbers: 1 + lanes,
        stripes: options.stripes ?? 16,
        capacity: options.capacity ?? 4096,
      };
      this.#buffers = {
        lanes,
        shape,
        buffer: new SharedSlotTable(shape).buffer,
        uncounted: new SharedArrayBuffer(4),
      };
    }
    this.lanes = this.#buffers.lanes;
    this.#table = new SharedSlotTable(this.#buffers.shape, this.#buffers.buffer);
    this.#uncounted = new Int32Array(this.#buffers.uncounted);
  }

  /**
   * The same counters in another thread.
   *
   * @example
   * const counters = SharedCounters.attach(workerData.counters);
   */
  static attach(buffers: SharedCountersBuffers): SharedCounters {
    return new SharedCounters({ lanes: buffers.lanes }, buffers);
  }

  share(): SharedCountersBuffers {
    return this.#buffers;
  }

  /** Takes one of `limit` for `namespace + id` on `lane`; false when `limit` are held. */
  take(namespace: string, id: string, limit: number, lane: number): boolean {
    const t = this.#table;
    const key = encodeKey(namespace, id, this.#key);
    const s = t.stripeOf(key.hash);
    t.lock(s);
    try {
      let row = t.find(s, key);
      const total = row < 0 ? 0 : t.f64[t.numbersAt(s, row) + TOTAL];
      if (total >= limit) return false;
      if (row < 0) {
        row = t.insert(s, key);
        if (row < 0) {
          // No room: let through uncounted, and say so (see the file's comment).
          Atomics.add(this.#uncounted, 0, 1);
          this.onUncounted?.(namespace);
          return true;
        }
        const at = t.numbersAt(s, row);
        for (let i = 0; i <= this.lanes; i++) t.f64[at + i] = 0;
      }
      const at = t.numbersAt(s, row);
      t.f64[at + TOTAL] += 1;
      t.f64[at + 1 + lane] += 1;
      return true;
    } finally {
      t.unlock(s);
    }
  }

  /** Gives back one that `lane` took for `namespace + id`. */
  give(namespace: string, id: string, lane: number): void {
    const t = this.#table;
    const key = encodeKey(namespace, id, this.#key);
    const s = t.stripeOf(key.hash);
    t.lock(s);
    try {
      const row = t.find(s, key);
      if (row < 0) return;
      const at = t.numbersAt(s, row);
      // Never below 0: a lane released as dead may still give back what it held.
      if (t.f64[at + 1 + lane] <= 0) return;
      t.f64[at + 1 + lane] -= 1;
      t.f64[at + TOTAL] -= 1;
      if (t.f64[at + TOTAL] <= 0) t.remove(s, row);
    } finally {
      t.unlock(s);
    }
  }

  /** How many are held for `namespace + id`, all lanes together (a snapshot). */
  held(namespace: string, id: string): number {
    const t = this.#table;
    const key = encodeKey(namespace, id, this.#key);
    const s = t.stripeOf(key.hash);
    t.lock(s);
    const row = t.find(s, key);
    const total = row < 0 ? 0 : t.f64[t.numbersAt(s, row) + TOTAL];
    t.unlock(s);
    return total;
  }

  /** Gives back everything `lane` holds (its thread died); returns how many. */
  releaseLane(lane: number): number {
    const t = this.#table;
    let released = 0;
    for (let s = 0; s < t.shape.stripes; s++) {
      t.lock(s);
      for (let row = t.rowsUsed(s) - 1; row >= 0; row--) {
        if (!t.holdsKey(s, row)) continue;
        const at = t.numbersAt(s, row);
        const mine = t.f64[at + 1 + lane];
        if (mine <= 0) continue;
        released += mine;
        t.f64[at + 1 + lane] = 0;
        t.f64[at + TOTAL] -= mine;
        if (t.f64[at + TOTAL] <= 0) t.remove(s, row);
      }
      t.unlock(s);
    }
    return released;
  }

  /**
   * Takes let through uncounted for lack of room, by every thread since the start.
   *
   * @example
   * if (counters.uncounted() > 0) logger.warn('the shared counters are full');
   */
  uncounted(): number {
    return Atomics.load(this.#uncounted, 0);
  }

  /** Keys with something held (for tests and memory checks). */
  size(): number {
    let n = 0;
    for (let s = 0; s < this.#table.shape.stripes; s++) n += this.#table.sizeOf(s);
    return n;
  }
}
