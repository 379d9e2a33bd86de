/**
 * A string-keyed map that remembers the order entries were last written in, so the
 * least recently written can be dropped: when idle (`sweep`) or when over the cap.
 * This is what keeps safeguard memory bounded under a flood of distinct IPs.
 *
 * A linked list keeps every operation O(1). (Re-inserting into a plain `Map` to move a
 * key to the end also works, but deleting from its front leaves holes that iteration
 * from the front must skip: that made a flood of distinct IPs several times slower.)
 *
 * @example
 * const m = new BoundedMap<number>(2);
 * m.set('a', 1); m.set('b', 2); m.set('c', 3); // 'a' is dropped
 * m.sweep((v) => v < 3); // drops 'b', stops at 'c'
 */
interface Node<V> {
  readonly key: string;
  value: V;
  prev: Node<V> | undefined;
  next: Node<V> | undefined;
}

export class BoundedMap<V> {
  readonly #map = new Map<string, Node<V>>();
  readonly #max: number;
  /** Least recently written. */
  #head: Node<V> | undefined;
  /** Most recently written. */
  #tail: Node<V> | undefined;

  constructor(max: number) {
    if (!(Number.isInteger(max) && max >= 1)) throw new RangeError(`cap must be ≥ 1, got ${max}`);
    this.#max = max;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: string): V | undefined {
    return this.#map.get(key)?.value;
  }

  /** Writes `value` as the most recent entry; drops the oldest ones beyond the cap. */
  set(key: string, value: V): void {
    let node = this.#map.get(key);
    if (node === undefined) {
      node = { key, value, prev: undefined, next: undefined };
      this.#map.set(key, node);
    } else {
      node.value = value;
      this.#unlink(node);
    }
    node.prev = this.#tail;
    if (this.#tail === undefined) this.#head = node;
    else this.#tail.next = node;
    this.#tail = node;
    while (this.#map.size > this.#max && this.#head !== undefined) this.#remove(this.#head);
  }

  delete(key: string): void {
    const node = this.#map.get(key);
    if (node !== undefined) this.#remove(node);
  }

  clear(): void {
    this.#map.clear();
    this.#head = undefined;
    this.#tail = undefined;
  }

  /**
   * Drops entries from the oldest while `expired` holds, stopping at the first that does
   * not: amortised O(1) per write, since entries are written in time order.
   */
  sweep(expired: (value: V) => boolean): void {
    while (this.#head !== undefined && expired(this.#head.value)) this.#remove(this.#head);
  }

  /** Values from the least to the most recently written. */
  *values(): IterableIterator<V> {
    for (let n = this.#head; n !== undefined; n = n.next) yield n.value;
  }

  #remove(node: Node<V>): void {
    this.#unlink(node);
    this.#map.delete(node.key);
  }

  #unlink(node: Node<V>): void {
    if (node.prev === undefined) this.#head = node.next;
    else node.prev.next = node.next;
    if (node.next === undefined) this.#tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = undefined;
    node.next = undefined;
  }
}
