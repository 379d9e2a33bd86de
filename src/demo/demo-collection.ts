/**
 * One collection of the demo API, kept sorted by `(modifiedAt, id)` so incremental sync
 * (`modifiedAfter`) and cursor paging are binary searches, not scans.
 *
 * The cursor is keyset paging: it names the last item returned, so an item is never
 * skipped or repeated while paging, even when many items share one `modifiedAt`.
 */
import type { DemoItem } from './demo-data.ts';

/** Where a page starts: after an instant, after a cursor's item, or both. */
export interface ListQuery {
  /** Canonical ISO instant (`Date#toISOString`); only items modified strictly after it. */
  readonly modifiedAfter?: string;
  /** A decoded cursor from a previous page's `nextCursor` (see `decodeCursor`). */
  readonly cursor?: CursorKey;
  readonly limit: number;
}

export interface Page<T> {
  readonly data: T[];
  readonly nextCursor: string | null;
}

/** The `(modifiedAt, id)` of the last item a page returned. */
export type CursorKey = readonly [modifiedAt: string, id: string];

/** Encodes the position after `item`; opaque to clients. */
export function encodeCursor(item: DemoItem): string {
  return Buffer.from(JSON.stringify([item.modifiedAt, item.id])).toString('base64url');
}

/** The position a cursor names, or undefined when it is not one of ours. */
export function decodeCursor(cursor: string): CursorKey | undefined {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(key) &&
      key.length === 2 &&
      typeof key[0] === 'string' &&
      typeof key[1] === 'string'
    ) {
      return [key[0], key[1]];
    }
  } catch {
    // not JSON: fall through
  }
  return undefined;
}

function compare(a: CursorKey, b: CursorKey): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
  return 0;
}

/**
 * A mutable, sorted collection. `all()` returns a snapshot: a later `touch` builds a new
 * array, so a running export keeps reading the items as they were when it started.
 *
 * @example
 * const devices = new DemoCollection(generateDemoData().devices);
 * devices.list({ modifiedAfter: '2025-12-01T00:00:00.000Z', limit: 100 });
 */
export class DemoCollection<T extends DemoItem> {
  #sorted: T[];
  #byId: Map<string, T>;

  constructor(items: readonly T[]) {
    this.#sorted = [];
    this.#byId = new Map();
    this.#replace(items);
  }

  get size(): number {
    return this.#sorted.length;
  }

  get(id: string): T | undefined {
    return this.#byId.get(id);
  }

  /** Items sorted by `(modifiedAt, id)`; do not mutate. */
  all(): readonly T[] {
    return this.#sorted;
  }

  list(query: ListQuery): Page<T> {
    let start = 0;
    if (query.modifiedAfter !== undefined) {
      // '\uffff' sorts after every id: skip every item at exactly that instant.
      start = this.#firstAfter([query.modifiedAfter, '\uffff']);
    }
    if (query.cursor !== undefined) {
      start = Math.max(start, this.#firstAfter(query.cursor));
    }
    const data = this.#sorted.slice(start, start + query.limit);
    const more = start + data.length < this.#sorted.length;
    return { data, nextCursor: more && data.length > 0 ? encodeCursor(data.at(-1)!) : null };
  }

  /** Replaces items (matched by id) with their updated versions and re-sorts. */
  update(items: readonly T[]): void {
    const byId = new Map(this.#byId);
    for (const item of items) byId.set(item.id, item);
    this.#replace([...byId.values()]);
  }

  #replace(items: readonly T[]): void {
    this.#sorted = [...items].sort((a, b) => compare([a.modifiedAt, a.id], [b.modifiedAt, b.id]));
    this.#byId = new Map(this.#sorted.map((item) => [item.id, item]));
  }

  /** Index of the first item whose key is strictly greater than `key`. */
  #firstAfter(key: CursorKey): number {
    let lo = 0;
    let hi = this.#sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const item = this.#sorted[mid];
      if (compare([item.modifiedAt, item.id], key) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
