/**
 * Requests held at the same time per key (a client IP, or every keyless caller under
 * one key), against a cap. A request that holds a slot may be slowed, queued, sending
 * its body or waiting for the upstream: whatever it waits for, it counts. Pure: the
 * gateway takes a slot when a request arrives and gives it back when its response
 * closes.
 *
 * The release function a slot comes with works once, so a slot cannot be given back
 * twice however many paths end a request (client gone, upstream error, timeout), and
 * a key's entry is deleted when its last slot comes back, so memory follows the
 * requests in flight, not every address ever seen.
 */

/** Gives a slot back; calling it again does nothing. */
export type Release = () => void;

/** What the admit stage needs of a cap: HeldSlots in one thread, shared counters across threads. */
export interface SlotCounter {
  take(key: string, limit: number): Release | undefined;
  held(key: string): number;
}

/**
 * @example
 * const slots = new HeldSlots();
 * const release = slots.take('192.0.2.1', 1); // a function: the slot is held
 * slots.take('192.0.2.1', 1);                 // undefined: the cap is reached
 * release();                                  // the slot is free again
 */
export class HeldSlots implements SlotCounter {
  #held = new Map<string, number>();

  /** Takes one of `limit` slots of `key`; undefined when all are held. */
  take(key: string, limit: number): Release | undefined {
    const held = this.#held.get(key) ?? 0;
    if (held >= limit) return undefined;
    this.#held.set(key, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const now = (this.#held.get(key) ?? 1) - 1;
      if (now <= 0) this.#held.delete(key);
      else this.#held.set(key, now);
    };
  }

  /** Slots of `key` held now. */
  held(key: string): number {
    return this.#held.get(key) ?? 0;
  }

  /** Keys holding at least one slot (memory check). */
  get size(): number {
    return this.#held.size;
  }
}
