/**
 * Stage 3, hold: an admitted request waits its turn. A delayed request is held on the
 * injected clock until it conforms (counted as slowed meanwhile); then a request of an
 * account takes one of the plan's concurrency slots, or waits in the account's queue
 * (refused when the queue is full or the wait runs out). Every wait ends once: started,
 * timed out, client gone, or answered 503 at shutdown.
 *
 * @example
 * const hold = createHold(deps, answer, forward);
 * hold.run(ex, { outcome: 'delay', delayMs: 250, rule: 'account-rate', limits, warning: undefined });
 */
import type { ServerResponse } from 'node:http';
import type { Clock } from '../../core/clock.ts';
import type { Engine } from '../../core/engine.ts';
import type { Acquired, ConcurrencyQueues } from '../../core/limiter/account-queue.ts';
import { isAnswered } from '../../core/maybe-async.ts';
import { refusal } from '../../core/refusal.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { Admitted } from './admit.ts';
import type { Answer } from './answer.ts';
import type { Exchange } from './exchange.ts';
import type { ForwardStage } from './forward.ts';

/** Response header on a request that was held to conform: how long, in milliseconds. */
export const DELAY_HEADER = 'sluice-delay-ms';

export interface HoldDeps {
  engine: Engine;
  queues: ConcurrencyQueues;
  clock: Clock;
  metrics: GatewayMetrics;
}

export interface HoldStage {
  run(ex: Exchange, d: Admitted): void;
  /** Answers every delayed or queued request (503) — used when shutting down. */
  drainWaiting(): void;
  /** Requests currently delayed or queued. */
  waiting(): number;
}

/** What the hold stage reads of a plan. */
interface SlotPlan {
  readonly concurrency: number;
  readonly queue: number;
  readonly queueTimeoutMs: number;
}

/** One admitted request's place in its account's queue, for shutdown and timeouts. */
interface Waiter {
  readonly accountId: string;
  readonly ticket: number;
  readonly res: ServerResponse;
  start(): void;
}

export function createHold(deps: HoldDeps, answer: Answer, forward: ForwardStage): HoldStage {
  const waiters = new Map<number, Waiter>();
  const delayed = new Set<{ res: ServerResponse; cancel(): void }>();
  // Shared queues: a slot freed by another thread goes to a waiter of this one.
  deps.queues.onReady?.((ticket) => {
    const waiter = waiters.get(ticket);
    waiters.delete(ticket);
    waiter?.start();
  });

  function run(ex: Exchange, d: Admitted): void {
    const { caller, res, headers } = ex;
    answer.limitHeaders(caller, d.limits, d.warning, headers);
    if (d.outcome === 'delay' && ex.shadow) {
      // Shadow mode: recorded as the delay it would have been, forwarded at once.
      answer.shadowDelay(ex, d.rule, d.delayMs);
      queue(ex);
      return;
    }
    if (d.outcome === 'delay' && caller.account !== undefined) {
      const accountId = caller.account.id;
      headers[DELAY_HEADER] = String(Math.ceil(d.delayMs));
      deps.metrics.delayed.inc();
      deps.metrics.delaySeconds.observe(d.delayMs / 1000);
      deps.engine.slowedEnter(accountId);
      // The clock's timer: a manual clock in tests, and a wait of any length (an
      // unavoidable delay, cost above the burst, may pass a Node timer's 24.8 days).
      const clear = deps.clock.after(d.delayMs, () => {
        delayed.delete(entry);
        res.off('close', onClose);
        deps.engine.slowedLeave(accountId);
        queue(ex);
      });
      const entry = {
        res,
        cancel() {
          clear();
          delayed.delete(entry);
          deps.engine.slowedLeave(accountId);
        },
      };
      const onClose = () => entry.cancel();
      res.once('close', onClose);
      delayed.add(entry);
      return;
    }
    queue(ex);
  }

  /** The account's concurrency slot now, or a place in its queue. */
  function queue(ex: Exchange): void {
    const { caller, res } = ex;
    const account = caller.account;
    const plan = caller.plan;
    if (account === undefined || plan === undefined) {
      forward(ex, undefined);
      return;
    }
    const acquired = deps.queues.acquire(account.id, plan.concurrency, plan.queue);
    if (isAnswered(acquired)) {
      slotted(ex, account.id, plan, acquired);
      return;
    }
    // Slots in Redis: the answer comes later; a client gone meanwhile gives back what it got.
    let gone = false;
    const onGone = () => {
      gone = true;
    };
    res.once('close', onGone);
    void acquired.then((slot) => {
      res.off('close', onGone);
      if (!gone) slotted(ex, account.id, plan, slot);
      else if (slot.status === 'run') releaseSlot(account.id);
      else if (slot.status === 'queued') deps.queues.cancel(account.id, slot.ticket);
    });
  }

  /** Goes on with the account's answer: run now, wait in its queue, or refused. */
  function slotted(ex: Exchange, accountId: string, plan: SlotPlan, slot: Acquired): void {
    const { caller, res } = ex;
    const account = { id: accountId };
    const release = () => releaseSlot(account.id);
    if (slot.status === 'run') {
      forward(ex, release);
      return;
    }
    if (ex.shadow) {
      // Shadow mode: it would have waited for a slot, or been refused with the queue
      // full; it goes on at once, without a slot (so it holds none another would wait for).
      if (slot.status === 'queued') {
        deps.queues.cancel(account.id, slot.ticket);
        answer.shadowQueue(ex);
      } else {
        answer.shadowRefuse(
          ex,
          refusal('account-queue', 429, 1000, {
            inflight: deps.queues.inflight(account.id),
            queued: deps.queues.queued(account.id),
            concurrency: plan.concurrency,
            queue: plan.queue,
          }),
        );
      }
      forward(ex, undefined);
      return;
    }
    const counters = {
      inflight: deps.queues.inflight(account.id),
      queued: deps.queues.queued(account.id),
      concurrency: plan.concurrency,
      queue: plan.queue,
    };
    if (slot.status === 'full') {
      answer.refuse(res, caller, refusal('account-queue', 429, 1000, counters));
      return;
    }
    const ticket = slot.ticket;
    const clearTimer = deps.clock.after(plan.queueTimeoutMs, () => {
      if (deps.queues.cancel(account.id, ticket)) {
        waiters.delete(ticket);
        answer.refuse(res, caller, refusal('account-queue-timeout', 429, 1000, counters));
      }
    });
    const onClose = () => {
      if (deps.queues.cancel(account.id, ticket)) {
        clearTimer();
        waiters.delete(ticket);
      }
    };
    res.once('close', onClose);
    waiters.set(ticket, {
      accountId: account.id,
      ticket,
      res,
      start() {
        clearTimer();
        res.off('close', onClose);
        forward(ex, release);
      },
    });
  }

  function releaseSlot(accountId: string) {
    const next = deps.queues.release(accountId);
    if (next === undefined) return;
    const waiter = waiters.get(next);
    waiters.delete(next);
    waiter?.start();
  }

  return {
    run,
    drainWaiting() {
      for (const entry of [...delayed]) {
        entry.cancel();
        answer.shuttingDown(entry.res);
      }
      for (const waiter of [...waiters.values()]) {
        deps.queues.cancel(waiter.accountId, waiter.ticket);
        waiters.delete(waiter.ticket);
        answer.shuttingDown(waiter.res);
      }
    },
    waiting: () => waiters.size + delayed.size,
  };
}
