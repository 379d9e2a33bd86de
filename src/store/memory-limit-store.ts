/**
 * The in-process limit store: applies the pure limiter maths (src/core/limiter) per key,
 * synchronously — it is on the gateway's hot path — and keeps memory bounded.
 *
 * Layout: a key is a namespace (up to and including its first `:`, e.g. `ip:`) and an id.
 * Per kind of state and namespace, a `Map<string, number>` from id to slot index, and the
 * numbers in one Float64Array, a row per slot, so that an entry's numbers share a cache
 * line (grown by doubling; freed slots are reused through a free list threaded through
 * the rows). No object per key: a million keys cost a Map entry, the id string and the
 * row, and nothing for the garbage collector to trace. With `gcraIn`/`windowIn` the caller passes the namespace
 * and the id apart, so no key string is built per request and an id string reused across
 * requests (a keep-alive socket's address, a cached account id) is found by its cached
 * hash, ten times faster than a fresh concatenation. GCRA and window keys are separate.
 *
 * Eviction, so a flood of distinct IPs or keys cannot grow memory without bound:
 * - Idle state is dead: a GCRA entry once its tat ≤ now (the same answer as no state), a
 *   window entry once now ≥ start + 2P. Each operation looks at the next few slots of its
 *   table (going round) and frees the dead ones: amortised O(1) and allocation-free, and a
 *   dead entry is found within about capacity / SWEEP_STEPS operations. Tables not in use
 *   get one step per operation, in turn.
 * - A hard cap, `maxKeys` (default 1,000,000) over all keys: an insert at the cap first
 *   evicts the oldest entry of its own table (Map insertion order), giving a second chance
 *   to entries used since they were inserted or last passed over — those move to the back.
 *   A busy or blocked key thus outlives a flood of one-off keys, and an IP flood evicts
 *   IP windows before it touches account state.
 * The rows never shrink: capacity stays at its high-water mark, bounded by maxKeys.
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
import type { GcraParams, GcraResult, LimitStore, WindowParams, WindowResult } from './types.ts';

export interface MemoryLimitStoreOptions {
  /** Most keys held (all kinds and namespaces together); the oldest are evicted past it. */
  readonly maxKeys?: number;
  /** Initial slots per table (grows by doubling). */
  readonly initialCapacity?: number;
}

/** Entries the eviction sweep looks at per operation in the table in use. */
const SWEEP_STEPS = 2;
/**
 * Namespaces with a table of their own; keys of further namespaces share one table,
 * keyed in full, so odd keys cannot make tables without bound.
 */
const MAX_NAMESPACES = 32;
/** Name of that shared table (no namespace looks like it: they end with `:` or are empty). */
const SHARED = '\0shared';

// Flag bits per slot.
const REFERENCED = 1;
/** Window entries: the warning of window `start` was reported. */
const WARNED = 2;

// The numbers of an entry. GCRA: the tat alone.
const TAT = 0;
// Window entries: four numbers per row (32 bytes, half a cache line).
const WINDOW_STRIDE = 4;
const START = 0;
const PREV = 1;
const CURR = 2;
const EXPIRES = 3;

type Kind = 'gcra' | 'window';

export class MemoryLimitStore implements LimitStore {
  readonly maxKeys: number;
  readonly #initialCapacity: number;
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
    let slot = t.map.get(key);
    const g = this.#g;
    if (slot === undefined) g.tat = undefined;
    else {
      g.tat = t.data[slot]; // stride 1: the tat
      t.flags[slot] |= REFERENCED;
    }
    const result = gcraUpdate(g, now, cost, params);
    if (result.allowed) {
      if (slot === undefined) slot = this.#insert(t, key);
      t.data[slot] = g.tat!;
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
    let slot = t.map.get(key);
    const w = this.#w;
    if (slot === undefined) {
      w.start = Number.NEGATIVE_INFINITY; // no state
      w.prev = 0;
      w.curr = 0;
      w.warnedStart = NEVER_WARNED;
    } else {
      const data = t.data;
      const row = slot * WINDOW_STRIDE;
      w.start = data[row + START];
      w.prev = data[row + PREV];
      w.curr = data[row + CURR];
      w.warnedStart = (t.flags[slot] & WARNED) !== 0 ? w.start : NEVER_WARNED;
      t.flags[slot] |= REFERENCED;
    }
    const result = windowUpdate(w, now, cost, params);
    if (result.allowed) {
      if (slot === undefined) slot = this.#insert(t, key);
      const data = t.data;
      const row = slot * WINDOW_STRIDE;
      data[row + START] = w.start;
      data[row + PREV] = w.prev;
      data[row + CURR] = w.curr;
      data[row + EXPIRES] = w.start + 2 * params.periodMs;
      // Only "warned in the current window" matters, so one bit stands for warnedStart.
      t.flags[slot] = w.warnedStart === w.start ? t.flags[slot] | WARNED : t.flags[slot] & ~WARNED;
    }
    this.#sweep(t, now);
    return result;
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
    const t =
      kind === 'gcra'
        ? new SlotTable(namespace, shared, 1, TAT, this.#initialCapacity)
        : new SlotTable(namespace, shared, WINDOW_STRIDE, EXPIRES, this.#initialCapacity);
    this.#tables[kind].set(namespace, t);
    this.#all.push(t);
    return t;
  }

  #insert(own: SlotTable, key: string): number {
    if (this.size() >= this.maxKeys) {
      let victim = own;
      if (own.size === 0) for (const t of this.#all) if (t.size > victim.size) victim = t;
      victim.evictOldest();
    }
    return own.insert(key);
  }

  /** Sweeps the table in use, and one other table a little, in turn. */
  #sweep(own: SlotTable, now: number): void {
    own.sweep(now, SWEEP_STEPS);
    const all = this.#all;
    if (all.length < 2) return;
    let i = this.#turn + 1 < all.length ? this.#turn + 1 : 0;
    if (all[i] === own) i = i + 1 < all.length ? i + 1 : 0;
    this.#turn = i;
    all[i].sweep(now, 1);
  }
}

/** One kind of state in one namespace: key → slot, the rows, the sweep and the cap eviction. */
class SlotTable {
  readonly map = new Map<string, number>();
  /** The namespace this table holds; for the shared table, keys include theirs. */
  readonly namespace: string;
  readonly shared: boolean;
  /**
   * The numbers, one row of `stride` per slot: an entry's numbers share a cache line.
   * A free slot's first number links the free list.
   */
  data: Float64Array;
  readonly #stride: number;
  flags: Uint8Array;
  /** The key held in each slot (undefined when free), for the sweep to delete by. */
  keys: (string | undefined)[] = [];
  readonly #expiryCol: number;
  #high = 0;
  #freeHead = -1;
  /** The sweep's position among the slots. */
  #cursor = 0;
  #oldest: MapIterator<[string, number]> | undefined;

  constructor(
    namespace: string,
    shared: boolean,
    stride: number,
    expiryCol: number,
    initialCapacity: number,
  ) {
    this.namespace = namespace;
    this.shared = shared;
    const capacity = Math.max(1, initialCapacity);
    this.data = new Float64Array(capacity * stride);
    this.#stride = stride;
    this.flags = new Uint8Array(capacity);
    this.#expiryCol = expiryCol;
  }

  get size(): number {
    return this.map.size;
  }

  get capacity(): number {
    return this.flags.length;
  }

  /** Adds `key` (absent) and returns its slot, flags cleared. */
  insert(key: string): number {
    let slot = this.#freeHead;
    if (slot >= 0) {
      this.#freeHead = this.data[slot * this.#stride];
    } else {
      if (this.#high === this.flags.length) this.#grow();
      slot = this.#high++;
    }
    this.flags[slot] = 0;
    this.keys[slot] = key;
    this.map.set(key, slot);
    return slot;
  }

  /**
   * Frees entries whose expiry is ≤ now among the next `steps` slots, going round. No
   * allocation: this runs on every operation.
   */
  sweep(now: number, steps: number): void {
    const high = this.#high;
    if (this.map.size === 0) return;
    const data = this.data;
    const stride = this.#stride;
    const expiry = this.#expiryCol;
    const keys = this.keys;
    let c = this.#cursor;
    for (let i = 0; i < steps; i++) {
      c = c + 1 < high ? c + 1 : 0;
      const key = keys[c];
      if (key !== undefined && data[c * stride + expiry] <= now) this.#remove(key, c);
    }
    this.#cursor = c;
  }

  /** Evicts the oldest entry not used since it was inserted or last passed over. */
  evictOldest(): void {
    // Every entry passed over loses its REFERENCED bit, so this ends within size + 1 steps.
    for (let guard = this.map.size + 1; guard > 0; guard--) {
      let next = this.#oldest?.next();
      if (next === undefined || next.done) {
        this.#oldest = this.map.entries();
        next = this.#oldest.next();
        if (next.done) return;
      }
      const [key, slot] = next.value;
      if ((this.flags[slot] & REFERENCED) === 0) {
        this.#remove(key, slot);
        return;
      }
      this.flags[slot] &= ~REFERENCED;
      this.map.delete(key);
      this.map.set(key, slot); // to the back of the line
    }
  }

  clear(): void {
    this.map.clear();
    this.keys = [];
    this.#high = 0;
    this.#freeHead = -1;
    this.#cursor = 0;
    this.#oldest = undefined;
  }

  #remove(key: string, slot: number): void {
    this.map.delete(key);
    this.keys[slot] = undefined;
    this.data[slot * this.#stride] = this.#freeHead;
    this.#freeHead = slot;
  }

  #grow(): void {
    const capacity = this.flags.length * 2;
    const data = new Float64Array(capacity * this.#stride);
    data.set(this.data);
    this.data = data;
    const flags = new Uint8Array(capacity);
    flags.set(this.flags);
    this.flags = flags;
  }
}
