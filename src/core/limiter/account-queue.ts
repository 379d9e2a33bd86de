/**
 * Per-account concurrency with a bounded FIFO queue, and the count of an account's
 * requests being slowed. Pure data structures: no promises, no timers. The gateway
 * owns the waiting (timers, sockets) and tells these what happened.
 *
 * Each account has its own entry, so one account's flood never delays another's
 * requests; an entry is deleted as soon as the account is idle, so memory follows the
 * accounts that are busy right now, not every account ever seen.
 */

import type { MaybePromise } from '../maybe-async.ts';

export type Acquired =
  | { readonly status: 'run' }
  | { readonly status: 'queued'; readonly ticket: number }
  | { readonly status: 'full' };

const RUN: Acquired = Object.freeze({ status: 'run' });
const FULL: Acquired = Object.freeze({ status: 'full' });

interface AccountSlots {
  inflight: number;
  /** Tickets waiting, oldest first. Short (bounded by the plan's queue size). */
  waiting: number[];
}

/**
 * What the hold stage needs of an account's slots and queue: AccountQueues in one thread,
 * SharedAccountQueues (store/shared-account-queues.ts) across worker threads,
 * RedisLeaseQueues (store/redis-lease-queues.ts) across nodes on one Redis.
 */
export interface ConcurrencyQueues {
  /** Answered at once in memory; later (a promise) when the slots are in Redis. */
  acquire(accountId: string, limit: number, queueMax: number): MaybePromise<Acquired>;
  release(accountId: string): number | undefined;
  cancel(accountId: string, ticket: number): boolean;
  inflight(accountId: string): number;
  queued(accountId: string): number;
  /**
   * Names who starts a waiter whose turn comes other than by `release` here (a slot freed
   * in another thread); the listener gets its ticket, which holds the slot now.
   */
  onReady?(listener: (ticket: number) => void): void;
}

/**
 * @example
 * const queues = new AccountQueues();
 * queues.acquire('acme', 1, 10); // { status: 'run' }
 * queues.acquire('acme', 1, 10); // { status: 'queued', ticket: 1 }
 * queues.release('acme');        // 1: run ticket 1 now, it has the freed slot
 */
export class AccountQueues implements ConcurrencyQueues {
  #accounts = new Map<string, AccountSlots>();
  #nextTicket = 1;

  /**
   * Takes one of `limit` concurrent slots, or a place among `queueMax` waiters. A
   * request never overtakes one already waiting, even if a slot looks free.
   */
  acquire(accountId: string, limit: number, queueMax: number): Acquired {
    let slots = this.#accounts.get(accountId);
    if (slots === undefined) {
      slots = { inflight: 0, waiting: [] };
      this.#accounts.set(accountId, slots);
    }
    if (slots.inflight < limit && slots.waiting.length === 0) {
      slots.inflight++;
      return RUN;
    }
    if (slots.waiting.length < queueMax) {
      const ticket = this.#nextTicket++;
      slots.waiting.push(ticket);
      return { status: 'queued', ticket };
    }
    this.#dropIfIdle(accountId, slots);
    return FULL;
  }

  /**
   * A running request finished. Returns the ticket that runs next (oldest first), which
   * takes over the freed slot, or undefined when nobody waits.
   */
  release(accountId: string): number | undefined {
    const slots = this.#accounts.get(accountId);
    if (slots === undefined) return undefined;
    const next = slots.waiting.shift();
    if (next !== undefined) return next;
    if (slots.inflight > 0) slots.inflight--;
    this.#dropIfIdle(accountId, slots);
    return undefined;
  }

  /**
   * A waiter gave up (queue timeout, client gone). True if it was still waiting; false
   * if it already got its slot (then the caller must `release` when it ends).
   */
  cancel(accountId: string, ticket: number): boolean {
    const slots = this.#accounts.get(accountId);
    if (slots === undefined) return false;
    const at = slots.waiting.indexOf(ticket);
    if (at < 0) return false;
    slots.waiting.splice(at, 1);
    this.#dropIfIdle(accountId, slots);
    return true;
  }

  /** Requests of the account holding a slot. */
  inflight(accountId: string): number {
    return this.#accounts.get(accountId)?.inflight ?? 0;
  }

  /** Requests of the account waiting for a slot. */
  queued(accountId: string): number {
    return this.#accounts.get(accountId)?.waiting.length ?? 0;
  }

  /** Accounts with a request running or waiting (for metrics and tests). */
  get size(): number {
    return this.#accounts.size;
  }

  #dropIfIdle(accountId: string, slots: AccountSlots): void {
    if (slots.inflight === 0 && slots.waiting.length === 0) this.#accounts.delete(accountId);
  }
}

/**
 * Counts each account's requests being slowed (held before forwarding), so that one more
 * than the plan's `maxSlowed` can be answered 429 at once. Entries vanish at zero.
 *
 * @example
 * const slowed = new SlowedCounter();
 * slowed.enter('acme');
 * slowed.count('acme'); // 1: the engine refuses a further delay when maxSlowed is 1
 * slowed.leave('acme');
 */
export class SlowedCounter {
  #counts = new Map<string, number>();

  /** Enters unconditionally (the decision to slow was already taken). */
  enter(id: string): void {
    this.#counts.set(id, (this.#counts.get(id) ?? 0) + 1);
  }

  leave(id: string): void {
    const n = this.#counts.get(id);
    if (n === undefined) return;
    if (n <= 1) this.#counts.delete(id);
    else this.#counts.set(id, n - 1);
  }

  count(id: string): number {
    return this.#counts.get(id) ?? 0;
  }

  /** Accounts with at least one slowed request. */
  get size(): number {
    return this.#counts.size;
  }
}
