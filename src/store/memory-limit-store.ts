/**
 * The in-process limit store: applies the pure limiter maths (src/core/limiter) per key,
 * synchronously — it is on the gateway's hot path — and keeps memory bounded.
 *
 * Layout: a key is a namespace (up to and including its first `:`, e.g. `ip:`) and an id.
 * Per kind of state and namespace, a `SlotTable` (slot-table.ts): rows that hold the id
 * and the numbers together, in typed arrays, found through a Map while the table is
 * small and through an open-addressing index of its own once it is large. No object per
 * key: a million keys cost an index entry and a row each, and nothing for the garbage
 * collector to trace. With `gcraIn`/`windowIn` the caller passes the namespace and the id
 * apart, so no key string is built per request; `prefetch` lets a caller start both look-
 * ups of a decision at once. GCRA and window keys are separate.
 *
 * Eviction, so a flood of distinct IPs or keys cannot grow memory without bound:
 * - Idle state is dead: a GCRA entry once its tat ≤ now (the same answer as no state), a
 *   window entry once now ≥ start + 2P. Operations on a table look at its next rows
 *   (going round, SWEEP_STEPS per operation, in batches of SWEEP_EVERY operations) and
 *   free the dead ones: amortised O(1) and allocation-free, and a dead entry is found
 *   within about capacity / SWEEP_STEPS operations (sooner when whole blocks of rows are
 *   alive: the sweep passes over such a block in one step). Other tables get one step
 *   per operation, in turn.
 * - A hard cap, `maxKeys` (default 1,000,000) over all keys: an insert at the cap first
 *   evicts the oldest entry of its own table (insertion order), giving a second chance to
 *   entries used since they were inserted or last passed over — those move to the back.
 *   A busy or blocked key thus outlives a flood of one-off keys, and an IP flood evicts
 *   IP windows before it touches account state.
 * The rows never shrink: capacity stays at its high-water mark, bounded by maxKeys
 * (rounded up to a power of two).
 *
 * @example
 * const store = new MemoryLimitStore({ maxKeys: 100_000 });
 * store.windowIn('ip:', '203.0.113.9', clock.now(), 1, { periodMs: 60_000, warn: 100, block: 200 });
 * store.window('ip:203.0.113.9', clock.now(), 1, params); // the same state
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
import { PAIR_HASHES, packPair } from './key-hash.ts';
import { REFERENCED, SlotTable } from './slot-table.ts';

export interface MemoryLimitStoreOptions {
  /** Most keys held (all kinds and namespaces together); the oldest are evicted past it. */
  readonly maxKeys?: number;
  /** Initial slots per table (grows by doubling). */
  readonly initialCapacity?: number;
  /**
   * Rows from which a table looks keys up in its own index rather than a Map (default
   * 65,536: see slot-table.ts). Tests lower it to run the index on a few keys.
   */
  readonly indexFrom?: number;
}

/** Entries the eviction sweep looks at per operation in the table in use. */
const SWEEP_STEPS = 2;
/** Operations on a table between two sweeps (one loop of many steps costs less). */
const SWEEP_EVERY = 8;
/**
 * Namespaces with a table of their own; keys of further namespaces share one table,
 * keyed in full, so odd keys cannot make tables without bound.
 */
const MAX_NAMESPACES = 32;
/** Name of that shared table (no namespace looks like it: they end with `:` or are empty). */
const SHARED = '\0shared';

/** Flag bit of window entries (beside slot-table's): the warning of window `start` was reported. */
const WARNED = 1 << 7;

// GCRA rows: the tat, then the id (up to 15 characters in the row): 32 bytes, half a line.
const TAT = 0;
const GCRA_ROW_BYTES = 32;
// Window rows: four numbers, then the id (up to 23 characters in the row: any IPv4
// address, short IPv6 ones): 64 bytes, one cache line.
const WINDOW_NUMBERS = 4;
const WINDOW_ROW_BYTES = 64;
const START = 0;
const PREV = 1;
const CURR = 2;
const EXPIRES = 3;

type Kind = 'gcra' | 'window';

export class MemoryLimitStore implements LimitStore {
  readonly maxKeys: number;
  readonly #initialCapacity: number;
  readonly #indexFrom: number | undefined;
  readonly #tables = { gcra: new Map<string, SlotTable>(), window: new Map<string, SlotTable>() };
  /** Every table, for the cap, the sweep of idle tables and size(). */
  #all: SlotTable[] = [];
  #turn = 0;
  // The namespace used last, per kind: nearly always the one asked for next.
  #lastGcra: SlotTable | undefined;
  #lastWindow: SlotTable | undefined;
  // Scratch states: a slot's numbers are loaded here, updated, and written back.
  readonly #g: GcraState = { tat: undefined };
  readonly #w: MutableWindowState = { start: 0, prev: 0, curr: 0, warnedStart: NEVER_WARNED };

  constructor(options: MemoryLimitStoreOptions = {}) {
    this.maxKeys = Math.max(1, options.maxKeys ?? 1_000_000);
    this.#initialCapacity = Math.max(1, options.initialCapacity ?? 256);
    this.#indexFrom = options.indexFrom;
  }

  gcra(key: string, now: number, cost: number, params: GcraParams): GcraResult {
    const at = key.indexOf(':') + 1;
    return this.gcraIn(key.slice(0, at), key.slice(at), now, cost, params);
  }

  window(key: string, now: number, cost: number, params: WindowParams): WindowResult {
    const at = key.indexOf(':') + 1;
    return this.windowIn(key.slice(0, at), key.slice(at), now, cost, params);
  }

  gcraIn(namespace: string, id: string, now: number, cost: number, params: GcraParams): GcraResult {
    let t = this.#lastGcra;
    if (t === undefined || t.namespace !== namespace) {
      t = this.#table('gcra', namespace);
      this.#lastGcra = t;
    }
    const key = t.shared ? namespace + id : id;
    let slot = t.find(key);
    const rows = t.rows;
    const g = this.#g;
    if (slot < 0) g.tat = undefined;
    else {
      g.tat = rows.f64[slot * rows.strideF64 + TAT];
      rows.i32[rows.headAt(slot)] |= REFERENCED;
    }
    const result = gcraUpdate(g, now, cost, params);
    if (result.allowed) {
      if (slot < 0) slot = this.#insert(t, key);
      rows.setExpiry(slot, g.tat!); // the tat is the expiry
    }
    this.#sweep(t, now);
    return result;
  }

  windowIn(
    namespace: string,
    id: string,
    now: number,
    cost: number,
    params: WindowParams,
  ): WindowResult {
    let t = this.#lastWindow;
    if (t === undefined || t.namespace !== namespace) {
      t = this.#table('window', namespace);
      this.#lastWindow = t;
    }
    const key = t.shared ? namespace + id : id;
    let slot = t.find(key);
    const rows = t.rows;
    const w = this.#w;
    if (slot < 0) {
      w.start = Number.NEGATIVE_INFINITY; // no state
      w.prev = 0;
      w.curr = 0;
      w.warnedStart = NEVER_WARNED;
    } else {
      const row = slot * rows.strideF64;
      w.start = rows.f64[row + START];
      w.prev = rows.f64[row + PREV];
      w.curr = rows.f64[row + CURR];
      const f = rows.headAt(slot);
      w.warnedStart = (rows.i32[f] & WARNED) !== 0 ? w.start : NEVER_WARNED;
      rows.i32[f] |= REFERENCED;
    }
    const result = windowUpdate(w, now, cost, params);
    if (result.allowed) {
      if (slot < 0) slot = this.#insert(t, key); // may grow the rows: read f64 after
      const row = slot * rows.strideF64;
      rows.f64[row + START] = w.start;
      rows.f64[row + PREV] = w.prev;
      rows.f64[row + CURR] = w.curr;
      rows.setExpiry(slot, w.start + 2 * params.periodMs);
      // Only "warned in the current window" matters, so one bit stands for warnedStart.
      const f = rows.headAt(slot);
      rows.i32[f] = w.warnedStart === w.start ? rows.i32[f] | WARNED : rows.i32[f] & ~WARNED;
    }
    this.#sweep(t, now);
    return result;
  }

  /**
   * A hint: `windowIn(windowNamespace, windowId, …)` then `gcraIn(gcraNamespace, gcraId, …)`
   * come next. Hashes both ids and starts loading both entries before waiting for either,
   * so that their cache misses overlap rather than follow one another. Changes no state.
   */
  prefetch(windowNamespace: string, windowId: string, gcraNamespace: string, gcraId: string): void {
    const w = this.#lastWindow;
    // Without an index of its own the table is small and stays in the cache.
    if (w === undefined || !w.indexed || w.namespace !== windowNamespace) return;
    const g =
      this.#lastGcra?.namespace === gcraNamespace
        ? this.#lastGcra
        : this.#tables.gcra.get(gcraNamespace);
    if (g === undefined || w.shared || g.shared) return;
    packPair(windowId, w.nextWords, gcraId, g.nextWords);
    w.expect(windowId, PAIR_HASHES[0]);
    g.expect(gcraId, PAIR_HASHES[1]);
  }

  size(): number {
    let n = 0;
    for (const t of this.#all) n += t.size;
    return n;
  }

  /** Slots allocated in all tables: the high-water mark, for tests and metrics. */
  slotCapacity(): number {
    let n = 0;
    for (const t of this.#all) n += t.capacity;
    return n;
  }

  close(): void {
    for (const t of this.#all) t.clear();
  }

  #table(kind: Kind, namespace: string): SlotTable {
    const tables = this.#tables[kind];
    const t = tables.get(namespace);
    if (t !== undefined) return t;
    if (tables.size < MAX_NAMESPACES) return this.#addTable(kind, namespace, false);
    return tables.get(SHARED) ?? this.#addTable(kind, SHARED, true);
  }

  #addTable(kind: Kind, namespace: string, shared: boolean): SlotTable {
    const [numbers, rowBytes, expiryCol] =
      kind === 'gcra' ? [1, GCRA_ROW_BYTES, TAT] : [WINDOW_NUMBERS, WINDOW_ROW_BYTES, EXPIRES];
    const size = this.#initialCapacity;
    const t = new SlotTable(namespace, shared, numbers, rowBytes, expiryCol, size, this.#indexFrom);
    this.#tables[kind].set(namespace, t);
    this.#all.push(t);
    return t;
  }

  #insert(own: SlotTable, key: string): number {
    if (this.size() >= this.maxKeys) {
      let victim = own;
      if (own.size === 0) for (const t of this.#all) if (t.size > victim.size) victim = t;
      victim.evictOne();
    }
    return own.insert(key);
  }

  /** Every SWEEP_EVERY operations on `own`: sweeps it, and one other table a little, in turn. */
  #sweep(own: SlotTable, now: number): void {
    if (++own.operations < SWEEP_EVERY) return;
    own.operations = 0;
    own.sweep(now, SWEEP_STEPS * SWEEP_EVERY);
    const all = this.#all;
    if (all.length < 2) return;
    let i = this.#turn + 1 < all.length ? this.#turn + 1 : 0;
    if (all[i] === own) i = i + 1 < all.length ? i + 1 : 0;
    this.#turn = i;
    all[i].sweep(now, SWEEP_EVERY);
  }
}
