/**
 * Per-account concurrency across nodes: a request runs only holding one of the account's
 * leases in Redis (redis-leases.ts), so N nodes together run at most the plan's
 * `concurrency` requests of an account at once.
 *
 * The queue stays per node: a request that finds the account full waits in this node's
 * FIFO queue (bounded by the plan's `queue` and `queueTimeout`) and is retried every
 * `pollMs` (one script for all of an account's waiters here). A slot freed here goes
 * straight to this node's oldest waiter, lease and all, so order is FIFO within a node;
 * between nodes it is whoever asks Redis first after a slot frees.
 *
 * Most leases are taken before `acquire` is called: the limit store's admission script
 * takes one with a decision that allows a request at once (RedisLimitStore
 * takeLeasesWith: this class is its LeaseTaker), so a request that runs at once costs one
 * round trip for its decision and its slot together. The lease waits here until the
 * request asks for its slot in the same turn of the event loop; one nobody asked for by
 * then (the request was refused by a later stage, or is delayed) goes to this node's
 * oldest waiter of the account, or is freed. A script that found the account full spares
 * the next `acquire` of that turn the same question: it queues at once.
 *
 * Releases are not waited for: a freed lease rides with a decision's script of this turn
 * of the event loop or the next (on one server), or leaves after that with the others
 * freed meanwhile, one ZREM per account in one write; a lease lost on the way expires on
 * its own.
 *
 * Leases are renewed every third of `leaseMs` while their requests run; a node that dies
 * mid-request stops renewing, and its leases expire within `leaseMs`. Lease times are the
 * nodes' clocks (`clock.now()`), so nodes' clocks must agree to well within `leaseMs`.
 *
 * Redis not answering (the link is down, or a call fails within `store.timeout`): this
 * node decides alone, at most `concurrency` running here (the insurance, as the limit
 * store has), until the link's probe finds Redis again. Slots taken meanwhile hold no
 * lease; leases held keep being renewed once Redis is back (re-added if it lost them).
 * Leases freed while Redis did not answer, and those asked for by a call that failed (a
 * timed-out call may still run once Redis wakes up), are freed as soon as it answers
 * again: otherwise they would hold the account's slots until they expire.
 *
 * @example
 * const queues = new RedisLeaseQueues({ leases: new RedisLeases(link, 'sluice:'), clock, leaseMs: 10_000 });
 * await queues.acquire('acme', 2, 10); // { status: 'run' }, or queued with a ticket, or full
 * queues.release('acme');              // the lease goes to this node's next waiter, or is freed
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import type { Acquired, ConcurrencyQueues } from '../core/limiter/account-queue.ts';
import type { MaybePromise } from '../core/maybe-async.ts';
import type { LeaseTaker, RedisLeases } from './redis-leases.ts';

export interface LeaseQueuesOptions {
  readonly leases: RedisLeases;
  readonly clock: Clock;
  /** How long a lease lasts unless renewed (ms): a dead node's slots are free after it. */
  readonly leaseMs: number;
  /** How often this node's waiters ask Redis again for a slot (ms; default 50). */
  readonly pollMs?: number;
  /** Called for each acquisition decided without Redis. */
  readonly onFallback?: () => void;
}

const RUN: Acquired = Object.freeze({ status: 'run' });
const FULL: Acquired = Object.freeze({ status: 'full' });
const NO_FREES: readonly (readonly [string, string])[] = Object.freeze([]);

interface AccountSlots {
  /** Requests of the account running on this node (with a lease or, Redis down, without). */
  inflight: number;
  /** The Redis leases those requests hold (interchangeable within the account). */
  leases: string[];
  /** Tickets waiting here, oldest first. */
  waiting: number[];
  /** The plan's concurrency at the latest acquire (the poll asks for this many). */
  limit: number;
  /** Leases the admission script took for requests that have not asked for them yet. */
  taken: string[];
  /** The admission script found the account full in this turn of the event loop. */
  full: boolean;
  /** Acquisitions waiting for Redis' first answer (the entry must outlive them). */
  pending: number;
  poll: NodeJS.Timeout | undefined;
}

export class RedisLeaseQueues implements ConcurrencyQueues, LeaseTaker {
  readonly #leases: RedisLeases;
  readonly #clock: Clock;
  readonly leaseMs: number;
  readonly #pollMs: number;
  readonly #onFallback: () => void;
  /** This process's lease names start with it: unique per node and start. */
  readonly #node = randomBytes(6).toString('hex');
  #nextLease = 1;
  #nextTicket = 1;
  readonly #accounts = new Map<string, AccountSlots>();
  readonly #ready: ((ticket: number) => void)[] = [];
  /** Leases to free in Redis once it answers again, per account. */
  readonly #unfreed = new Map<string, Set<string>>();
  #unfreedCount = 0;
  readonly #renew: NodeJS.Timeout;
  /** Accounts given a lease or told full by the admission script in this turn. */
  readonly #touched = new Set<string>();
  #settleQueued = false;
  /**
   * Leases freed in this turn of the event loop, per account, for this turn's decision
   * scripts to take along; what none took leaves in one ZREM per account at the end of
   * the turn (#turnEnd). A waiter on this node does not wait for it: it gets the slot
   * directly.
   */
  #fresh = new Map<string, string[]>();
  #turnEndQueued = false;

  constructor(options: LeaseQueuesOptions) {
    this.#leases = options.leases;
    this.#clock = options.clock;
    this.leaseMs = options.leaseMs;
    this.#pollMs = options.pollMs ?? 50;
    this.#onFallback = options.onFallback ?? (() => {});
    this.#renew = setInterval(() => this.#renewAll(), Math.max(1, Math.floor(this.leaseMs / 3)));
    this.#renew.unref();
    this.#leases.link.onChange((up) => {
      if (up) this.#freeUnfreed();
    });
  }

  acquire(accountId: string, limit: number, queueMax: number): MaybePromise<Acquired> {
    const slots = this.#slots(accountId);
    slots.limit = limit;
    // Never overtake a request already waiting here.
    if (slots.waiting.length > 0) return this.#queue(accountId, slots, queueMax);
    // Taken with the decision: no round trip.
    const taken = slots.taken.pop();
    if (taken !== undefined) {
      slots.inflight++;
      slots.leases.push(taken);
      return RUN;
    }
    if (slots.full) return this.#queue(accountId, slots, queueMax);
    if (!this.#leases.link.up) return this.#local(accountId, slots, queueMax);
    const member = this.#member();
    let asked: Promise<number>;
    try {
      asked = this.#leases.take(accountId, this.#clock.now(), this.leaseMs, limit, [member]);
    } catch (error) {
      this.#leases.link.down(error);
      return this.#local(accountId, slots, queueMax);
    }
    slots.pending++;
    return asked.then(
      (granted) => {
        slots.pending--;
        if (granted === 0) return this.#queue(accountId, slots, queueMax);
        slots.inflight++;
        slots.leases.push(member);
        return RUN;
      },
      (error: unknown) => {
        slots.pending--;
        this.#remember(accountId, [member]);
        this.#leases.link.down(error);
        return this.#local(accountId, slots, queueMax);
      },
    );
  }

  release(accountId: string): number | undefined {
    const slots = this.#accounts.get(accountId);
    if (slots === undefined) return undefined;
    // The slot, and its lease, go on to this node's oldest waiter.
    const next = slots.waiting.shift();
    if (next !== undefined) return next;
    if (slots.inflight > 0) slots.inflight--;
    const member = slots.leases.pop();
    if (member !== undefined) this.#free(accountId, member);
    this.#dropIfIdle(accountId, slots);
    return undefined;
  }

  cancel(accountId: string, ticket: number): boolean {
    const slots = this.#accounts.get(accountId);
    if (slots === undefined) return false;
    const at = slots.waiting.indexOf(ticket);
    if (at < 0) return false;
    slots.waiting.splice(at, 1);
    this.#dropIfIdle(accountId, slots);
    return true;
  }

  /** Requests of the account running on this node. */
  inflight(accountId: string): number {
    return this.#accounts.get(accountId)?.inflight ?? 0;
  }

  /** Requests of the account waiting on this node. */
  queued(accountId: string): number {
    return this.#accounts.get(accountId)?.waiting.length ?? 0;
  }

  onReady(listener: (ticket: number) => void): void {
    this.#ready.push(listener);
  }

  /** Accounts running or waiting on this node. */
  get size(): number {
    return this.#accounts.size;
  }

  offer(accountId: string): string | undefined {
    // Requests of the account wait here: a new one queues behind them without a lease.
    if (!this.#leases.link.up || (this.#accounts.get(accountId)?.waiting.length ?? 0) > 0) {
      return undefined;
    }
    return this.#member();
  }

  granted(accountId: string, member: string): void {
    this.#slots(accountId).taken.push(member);
    this.#touch(accountId);
  }

  full(accountId: string): void {
    this.#slots(accountId).full = true;
    this.#touch(accountId);
  }

  failed(accountId: string, member: string): void {
    this.#remember(accountId, [member]);
  }

  frees(max: number): readonly (readonly [string, string])[] {
    if (this.#fresh.size === 0) return NO_FREES;
    const out: [string, string][] = [];
    for (const [accountId, members] of this.#fresh) {
      while (members.length > 0 && out.length < max) out.push([accountId, members.pop()!]);
      if (members.length === 0) this.#fresh.delete(accountId);
      if (out.length >= max) return out;
    }
    return out;
  }

  /** Stops renewing and polling, and frees every lease still held (best effort). */
  close(): void {
    clearInterval(this.#renew);
    for (const [accountId, slots] of this.#accounts) {
      clearTimeout(slots.poll);
      for (const member of [...slots.leases, ...slots.taken]) this.#free(accountId, member);
    }
    this.#accounts.clear();
    this.#flush(this.#fresh);
  }

  /**
   * Settles the admission script's answers at the end of this turn of the event loop
   * (setImmediate: after the promise callbacks that hand each request its slot).
   */
  #touch(accountId: string): void {
    this.#touched.add(accountId);
    if (this.#settleQueued) return;
    this.#settleQueued = true;
    setImmediate(() => this.#settle());
  }

  /** Leases nobody asked for go to this node's waiters of the account, or are freed. */
  #settle(): void {
    this.#settleQueued = false;
    for (const accountId of this.#touched) {
      const slots = this.#accounts.get(accountId);
      if (slots === undefined) continue;
      slots.full = false;
      for (let member = slots.taken.pop(); member !== undefined; member = slots.taken.pop()) {
        const ticket = slots.waiting.shift();
        if (ticket === undefined) {
          this.#free(accountId, member);
          continue;
        }
        slots.inflight++;
        slots.leases.push(member);
        this.#start(ticket);
      }
      this.#dropIfIdle(accountId, slots);
    }
    this.#touched.clear();
  }

  #slots(accountId: string): AccountSlots {
    let slots = this.#accounts.get(accountId);
    if (slots === undefined) {
      slots = {
        inflight: 0,
        leases: [],
        waiting: [],
        limit: 0,
        taken: [],
        full: false,
        pending: 0,
        poll: undefined,
      };
      this.#accounts.set(accountId, slots);
    }
    return slots;
  }

  /** Without Redis: this node alone, at most `limit` running here. */
  #local(accountId: string, slots: AccountSlots, queueMax: number): Acquired {
    this.#onFallback();
    if (slots.inflight < slots.limit && slots.waiting.length === 0) {
      slots.inflight++;
      return RUN;
    }
    return this.#queue(accountId, slots, queueMax);
  }

  #queue(accountId: string, slots: AccountSlots, queueMax: number): Acquired {
    if (slots.waiting.length >= queueMax) {
      this.#dropIfIdle(accountId, slots);
      return FULL;
    }
    const ticket = this.#nextTicket++;
    slots.waiting.push(ticket);
    this.#schedulePoll(accountId, slots);
    return { status: 'queued', ticket };
  }

  #schedulePoll(accountId: string, slots: AccountSlots): void {
    if (slots.poll !== undefined) return;
    slots.poll = setTimeout(() => {
      slots.poll = undefined;
      void this.#poll(accountId, slots);
    }, this.#pollMs);
    slots.poll.unref();
  }

  /** Asks for as many leases as there are waiters here; starts those granted, oldest first. */
  async #poll(accountId: string, slots: AccountSlots): Promise<void> {
    if (slots.waiting.length === 0) {
      this.#dropIfIdle(accountId, slots);
      return;
    }
    if (!this.#leases.link.up) {
      // Insurance: slots free on this node go to its waiters.
      while (slots.waiting.length > 0 && slots.inflight < slots.limit) {
        this.#onFallback();
        slots.inflight++;
        this.#start(slots.waiting.shift()!);
      }
    } else {
      const members = slots.waiting.map(() => this.#member());
      let granted = 0;
      try {
        granted = await this.#leases.take(
          accountId,
          this.#clock.now(),
          this.leaseMs,
          slots.limit,
          members,
        );
      } catch (error) {
        this.#remember(accountId, members);
        this.#leases.link.down(error);
      }
      for (let i = 0; i < granted; i++) {
        const ticket = slots.waiting.shift();
        if (ticket === undefined) {
          // Its waiter gave up while Redis answered: the lease is not needed.
          this.#free(accountId, members[i]);
          continue;
        }
        slots.inflight++;
        slots.leases.push(members[i]);
        this.#start(ticket);
      }
    }
    if (slots.waiting.length > 0) this.#schedulePoll(accountId, slots);
    else this.#dropIfIdle(accountId, slots);
  }

  #start(ticket: number): void {
    for (const listener of this.#ready) listener(ticket);
  }

  #renewAll(): void {
    if (!this.#leases.link.up) return;
    if (this.#unfreedCount > 0) this.#freeUnfreed();
    const now = this.#clock.now();
    for (const [accountId, slots] of this.#accounts) {
      if (slots.leases.length === 0) continue;
      this.#leases
        .renew(accountId, now, this.leaseMs, slots.leases)
        .catch((error: unknown) => this.#leases.link.down(error));
    }
  }

  /**
   * Frees a lease, not waited for: a decision's script of this turn or the next takes it
   * along (frees), or it leaves with the others freed meanwhile (see #fresh).
   */
  #free(accountId: string, member: string): void {
    if (!this.#leases.link.up) {
      this.#remember(accountId, [member]);
      return;
    }
    const members = this.#fresh.get(accountId);
    if (members === undefined) this.#fresh.set(accountId, [member]);
    else members.push(member);
    if (this.#turnEndQueued) return;
    this.#turnEndQueued = true;
    setImmediate(this.#turnEnd);
  }

  /**
   * The end of the turn a lease was freed in: what no decision took along leaves now.
   * Not a turn later: the client whose request freed it has its answer already, and its
   * next request, on any node, must find the lease gone (under load, one turn more was
   * long enough for a sequential client to be refused by another node).
   */
  readonly #turnEnd = (): void => {
    this.#turnEndQueued = false;
    this.#flush(this.#fresh);
  };

  /** One ZREM per account for the leases no decision took along, in one write. */
  #flush(pending: Map<string, string[]>): void {
    if (pending.size === 0) return;
    if (!this.#leases.link.up) {
      for (const [accountId, members] of pending) this.#remember(accountId, members);
    } else {
      this.#leases.releaseAll(pending, (accountId, members) => this.#remember(accountId, members));
    }
    pending.clear();
  }

  /**
   * Keeps leases to free when Redis answers again; bounded (10,000): past it, a lease is
   * left to expire on its own, within `leaseMs`.
   */
  #remember(accountId: string, members: readonly string[]): void {
    let set = this.#unfreed.get(accountId);
    for (const member of members) {
      if (this.#unfreedCount >= 10_000) return;
      if (set === undefined) {
        set = new Set();
        this.#unfreed.set(accountId, set);
      }
      if (!set.has(member)) this.#unfreedCount++;
      set.add(member);
    }
  }

  #freeUnfreed(): void {
    const unfreed = [...this.#unfreed];
    this.#unfreed.clear();
    this.#unfreedCount = 0;
    for (const [accountId, members] of unfreed) {
      for (const member of members) this.#free(accountId, member);
    }
  }

  #member(): string {
    return `${this.#node}:${this.#nextLease++}`;
  }

  #dropIfIdle(accountId: string, slots: AccountSlots): void {
    if (
      slots.inflight === 0 &&
      slots.waiting.length === 0 &&
      slots.taken.length === 0 &&
      !slots.full &&
      slots.pending === 0 &&
      slots.poll === undefined
    ) {
      this.#accounts.delete(accountId);
    }
  }
}
