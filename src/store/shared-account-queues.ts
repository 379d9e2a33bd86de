/**
 * Per-account concurrency slots and queue places shared by worker threads: the counts are
 * in shared memory (shared-counters.ts), so an account's `concurrency` and `queue` caps
 * hold across every thread, and the requests waiting are kept by the thread that holds
 * their sockets.
 *
 * Ordering: FIFO within a thread; across threads there is no global order. A request
 * runs at once only when no request of its account waits in any thread; otherwise it
 * queues. A slot freed in a thread goes first to that thread's oldest waiter; a thread
 * whose waiters' slots are freed elsewhere notices within POLL_MS and takes them.
 *
 * Also the per-IP and keyless caps (`heldSlots`): counts in the same shared table.
 *
 * @example
 * const queues = new SharedAccountQueues(SharedCounters.attach(workerData.counters), lane);
 * queues.acquire('acme', 4, 10); // { status: 'run' }: one of acme's 4 slots, all threads together
 */
import type { Acquired, ConcurrencyQueues } from '../core/limiter/account-queue.ts';
import type { Release, SlotCounter } from '../core/limiter/held-slots.ts';
import type { SharedCounters } from './shared-counters.ts';

const RUN: Acquired = Object.freeze({ status: 'run' });
const FULL: Acquired = Object.freeze({ status: 'full' });
const RUNNING = 'run:';
const QUEUED = 'queue:';
/** How often a thread with waiters looks for slots freed by other threads (ms). */
const POLL_MS = 5;

interface Waiting {
  limit: number;
  tickets: number[];
}

export class SharedAccountQueues implements ConcurrencyQueues {
  readonly #counters: SharedCounters;
  readonly #lane: number;
  readonly #waiting = new Map<string, Waiting>();
  #nextTicket = 1;
  #ready: (ticket: number) => void = () => {};
  #timer: NodeJS.Timeout | undefined;

  constructor(counters: SharedCounters, lane: number) {
    this.#counters = counters;
    this.#lane = lane;
  }

  acquire(accountId: string, limit: number, queueMax: number): Acquired {
    const c = this.#counters;
    // A request never overtakes one already waiting, in this thread or another.
    if (c.held(QUEUED, accountId) === 0 && c.take(RUNNING, accountId, limit, this.#lane)) {
      return RUN;
    }
    if (!c.take(QUEUED, accountId, queueMax, this.#lane)) return FULL;
    const ticket = this.#nextTicket++;
    let waiting = this.#waiting.get(accountId);
    if (waiting === undefined) {
      waiting = { limit, tickets: [] };
      this.#waiting.set(accountId, waiting);
    }
    waiting.limit = limit;
    waiting.tickets.push(ticket);
    this.#arm();
    return { status: 'queued', ticket };
  }

  release(accountId: string): number | undefined {
    const waiting = this.#waiting.get(accountId);
    const next = waiting?.tickets.shift();
    if (next !== undefined) {
      // The slot passes to this thread's oldest waiter: still held by this lane.
      this.#counters.give(QUEUED, accountId, this.#lane);
      if (waiting?.tickets.length === 0) this.#waiting.delete(accountId);
      return next;
    }
    this.#counters.give(RUNNING, accountId, this.#lane);
    return undefined;
  }

  cancel(accountId: string, ticket: number): boolean {
    const waiting = this.#waiting.get(accountId);
    const at = waiting?.tickets.indexOf(ticket) ?? -1;
    if (waiting === undefined || at < 0) return false;
    waiting.tickets.splice(at, 1);
    if (waiting.tickets.length === 0) this.#waiting.delete(accountId);
    this.#counters.give(QUEUED, accountId, this.#lane);
    return true;
  }

  inflight(accountId: string): number {
    return this.#counters.held(RUNNING, accountId);
  }

  queued(accountId: string): number {
    return this.#counters.held(QUEUED, accountId);
  }

  onReady(listener: (ticket: number) => void): void {
    this.#ready = listener;
  }

  /** Stops looking for freed slots (the thread is closing). */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Polls while this thread has waiters; stops when it has none. */
  #arm(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.pollFreed(), POLL_MS);
    this.#timer.unref();
  }

  /** Gives slots freed by other threads to this one's waiters (run by the timer; tests call it). */
  pollFreed(): void {
    const c = this.#counters;
    for (const [accountId, waiting] of this.#waiting) {
      while (waiting.tickets.length > 0 && c.take(RUNNING, accountId, waiting.limit, this.#lane)) {
        const ticket = waiting.tickets.shift() as number;
        c.give(QUEUED, accountId, this.#lane);
        this.#ready(ticket);
      }
      if (waiting.tickets.length === 0) this.#waiting.delete(accountId);
    }
    if (this.#waiting.size === 0) this.close();
  }
}

/**
 * A cap (requests of one IP, or of every keyless caller) counted in the shared table.
 *
 * @example
 * const ip = sharedSlotCounter(counters, 'ip:', lane);
 * const release = ip.take('192.0.2.1', 32); // undefined once 32 are held by all threads
 */
export function sharedSlotCounter(
  counters: SharedCounters,
  namespace: string,
  lane: number,
): SlotCounter {
  return {
    take(key, limit): Release | undefined {
      if (!counters.take(namespace, key, limit, lane)) return undefined;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        counters.give(namespace, key, lane);
      };
    },
    held: (key) => counters.held(namespace, key),
  };
}
