/**
 * Tells the operator about warnings, blocks, suspensions and revocations: one log line
 * per event, and a signed POST to every webhook subscribed to the event's type.
 *
 * Delivery never slows the gateway: `notify` only queues. Each delivery is retried with
 * back-off on network errors and retryable statuses, and the queue is bounded, so a
 * dead receiver costs at most `maxQueue` bodies of memory.
 *
 * Over 300 lines on purpose: queue, retry schedule and delivery share one bounded state,
 * which is easier to check for leaks in one place.
 */
import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import type { Clock } from '../core/clock.ts';
import type { Webhook } from '../core/policy/types.ts';
import type { Subject } from '../core/records.ts';
import {
  DELIVERY_HEADER,
  EVENT_HEADER,
  SIGNATURE_HEADER,
  signatureHeader,
} from './webhook-signature.ts';

export type NotifyEventType = Webhook['events'][number];

export interface NotifyEvent {
  readonly type: NotifyEventType;
  /** When it happened (ms since the epoch); sent as an ISO string. */
  readonly at: number;
  /** The incident's reference code, e.g. `RL-7KQ4-M9XT`. */
  readonly reference?: string;
  /** Who: account, key id, IP. Never a key secret. */
  readonly subject: Subject;
  /** The rule that fired, e.g. `ip-block` or `safeguard-ignoring-429`. */
  readonly rule: string;
  /** Plain words for the customer's contact: what happened and what to change. */
  readonly detail: string;
  /** When a block or suspension ends (ms since the epoch). */
  readonly until?: number;
  /** The counters at the time. */
  readonly counters?: Readonly<Record<string, number | string>>;
}

/** The part of a pino logger the notifier uses. */
export interface NotifierLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug?(obj: object, msg: string): void;
}

/** Sends one POST; resolves with the status, rejects on network errors and timeouts. */
export type WebhookSend = (
  url: string,
  init: { headers: Record<string, string>; body: string; signal: AbortSignal },
) => Promise<{ status: number }>;

/** Runs `fn` after `ms`; returns a function that cancels it. */
export type SetTimer = (fn: () => void, ms: number) => () => void;

export interface WebhookNotifierOptions {
  webhooks: readonly Webhook[];
  clock: Clock;
  logger: NotifierLogger;
  /** Default: undici `request` with a 5 s timeout (see `undiciSend`). */
  send?: WebhookSend;
  /** Default: an unref'd `setTimeout`, so pending retries never keep a process alive. */
  setTimer?: SetTimer;
  /** Deliveries held at most (queued, waiting to retry or in flight); the oldest go first. */
  maxQueue?: number;
  /** Waits before the 2nd, 3rd… attempt; after the last, the delivery is dropped. */
  retries?: readonly number[];
  /** Deliveries in flight at once. */
  concurrency?: number;
}

export interface WebhookNotifier {
  /** Logs the event and queues its deliveries. Never blocks, never throws. */
  notify(event: NotifyEvent): void;
  /** Tries every waiting delivery now and resolves when none is left, or after `timeoutMs`. */
  flush(timeoutMs: number): Promise<void>;
  /** Deliveries not yet done (queued, waiting to retry or in flight). */
  pending(): number;
  /** Stops: cancels retries, aborts sends in flight, drops what is left (with a log line). */
  close(): void;
}

export const DEFAULT_RETRIES: readonly number[] = [1_000, 5_000, 30_000, 120_000, 600_000];
export const DEFAULT_MAX_QUEUE = 10_000;
const USER_AGENT = 'sluice-webhooks/1';

/**
 * The default `send`: a POST with undici that gives up after `timeoutMs` in all.
 *
 * @example
 * createWebhookNotifier({ webhooks, clock, logger, send: undiciSend(2_000) });
 */
export function undiciSend(timeoutMs = 5_000): WebhookSend {
  return async (url, { headers, body, signal }) => {
    const res = await request(url, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    // Read the (ignored) answer so the connection goes back to the pool.
    await res.body.dump();
    return { status: res.statusCode };
  };
}

const unrefTimer: SetTimer = (fn, ms) => {
  const timer = setTimeout(fn, ms);
  timer.unref();
  return () => clearTimeout(timer);
};

/** Retry on network errors, 408, 429, 5xx (and 1xx/3xx); other 4xx say "never". */
function retryable(status: number | undefined): boolean {
  if (status === undefined) return true;
  return !(status >= 400 && status < 500 && status !== 408 && status !== 429);
}

/** Only the origin: a webhook's path or query may hold a token (Slack-style URLs do). */
function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid url)';
  }
}

interface Delivery {
  readonly seq: number;
  readonly id: string;
  readonly index: number;
  readonly webhook: Webhook;
  readonly event: NotifyEvent;
  readonly body: string;
  attempts: number;
  state: 'ready' | 'sending' | 'waiting';
  cancel: (() => void) | undefined;
}

/**
 * Creates a notifier for the policy's webhooks.
 *
 * @example
 * const notifier = createWebhookNotifier({ webhooks: policy.webhooks, clock: systemClock, logger });
 * notifier.notify({ type: 'revocation', at: clock.now(), reference: 'RL-7KQ4-M9XT',
 *   subject: { accountId: 'acme', keyId: 'key_1' }, rule: 'safeguard-non-public',
 *   detail: 'The key automated report rendering after being refused.' });
 * await notifier.flush(5_000); // at shutdown
 */
export function createWebhookNotifier(options: WebhookNotifierOptions): WebhookNotifier {
  const { webhooks, clock, logger } = options;
  const send = options.send ?? undiciSend();
  const setTimer = options.setTimer ?? unrefTimer;
  const maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
  const retries = options.retries ?? DEFAULT_RETRIES;
  const concurrency = options.concurrency ?? 4;
  if (!(maxQueue >= 1)) throw new RangeError(`maxQueue must be at least 1, got ${maxQueue}`);
  if (!(concurrency >= 1))
    throw new RangeError(`concurrency must be at least 1, got ${concurrency}`);
  if (retries.some((ms) => !(ms >= 0))) throw new RangeError('retries must be non-negative ms');

  // Insertion order is age order: the first entry that is not in flight is the oldest.
  const deliveries = new Map<number, Delivery>();
  const ready: Delivery[] = [];
  const aborter = new AbortController();
  let idleWaiters: (() => void)[] = [];
  let inFlight = 0;
  let seq = 0;
  let closed = false;

  // A failing logger must not make notify() throw or a delivery get stuck.
  const log = (level: 'debug' | 'info' | 'warn' | 'error', obj: object, msg: string) => {
    try {
      logger[level]?.(obj, msg);
    } catch {
      // nothing sensible left to do
    }
  };
  const describe = (d: Delivery) => ({
    delivery: d.id,
    event: d.event.type,
    reference: d.event.reference,
    webhook: d.index,
    target: origin(d.webhook.url),
  });

  function remove(d: Delivery): void {
    deliveries.delete(d.seq);
    d.cancel?.();
    d.cancel = undefined;
    const at = d.state === 'ready' ? ready.indexOf(d) : -1;
    if (at >= 0) ready.splice(at, 1);
    if (deliveries.size === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  function pump(): void {
    while (!closed && inFlight < concurrency && ready.length > 0) attempt(ready.shift()!);
  }

  function attempt(d: Delivery): void {
    d.state = 'sending';
    d.attempts++;
    inFlight++;
    const timestampSec = Math.floor(clock.now() / 1000);
    const headers = {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      [SIGNATURE_HEADER]: signatureHeader(d.webhook.secret, timestampSec, d.body),
      [EVENT_HEADER]: d.event.type,
      [DELIVERY_HEADER]: d.id,
    };
    let sent: Promise<{ status: number }>;
    try {
      sent = send(d.webhook.url, { headers, body: d.body, signal: aborter.signal });
    } catch (error) {
      sent = Promise.reject(error);
    }
    sent.then(
      (res) => settle(d, res.status, undefined),
      (error: unknown) => settle(d, undefined, error),
    );
  }

  function settle(d: Delivery, status: number | undefined, error: unknown): void {
    inFlight--;
    if (!deliveries.has(d.seq)) {
      pump(); // dropped or closed meanwhile
      return;
    }
    const outcome = {
      ...describe(d),
      attempt: d.attempts,
      ...(status === undefined
        ? { error: error instanceof Error ? error.message : String(error) }
        : { status }),
    };
    if (status !== undefined && status >= 200 && status < 300) {
      log('debug', outcome, 'webhook delivered');
      remove(d);
    } else if (!retryable(status)) {
      log('error', outcome, `webhook refused the delivery with ${status}; not retried`);
      remove(d);
    } else if (d.attempts > retries.length) {
      log('error', outcome, `webhook delivery failed ${d.attempts} times; dropped`);
      remove(d);
    } else {
      const retryInMs = retries[d.attempts - 1];
      log('warn', { ...outcome, retryInMs }, 'webhook delivery failed; will retry');
      d.state = 'waiting';
      d.cancel = setTimer(() => {
        d.cancel = undefined;
        if (!deliveries.has(d.seq)) return;
        d.state = 'ready';
        ready.push(d);
        pump();
      }, retryInMs);
    }
    pump();
  }

  function enqueue(d: Delivery): void {
    while (deliveries.size >= maxQueue) {
      let oldest: Delivery | undefined;
      for (const candidate of deliveries.values()) {
        if (candidate.state !== 'sending') {
          oldest = candidate;
          break;
        }
      }
      // Everything held is in flight: the newcomer is the one that cannot fit.
      const victim = oldest ?? d;
      log('error', { ...describe(victim), maxQueue }, 'webhook queue full; delivery dropped');
      if (victim === d) return;
      remove(victim);
    }
    deliveries.set(d.seq, d);
    ready.push(d);
  }

  function logEvent(event: NotifyEvent): void {
    const line = {
      event: event.type,
      reference: event.reference,
      subject: event.subject,
      rule: event.rule,
      detail: event.detail,
    };
    log(event.type === 'warning' ? 'info' : 'warn', line, `sluice ${event.type}`);
  }

  return {
    notify(event) {
      try {
        logEvent(event);
        const targets = webhooks.filter((w) => w.events.includes(event.type));
        if (closed || targets.length === 0) return;
        const body = JSON.stringify({
          id: randomUUID(),
          type: event.type,
          at: new Date(event.at).toISOString(),
          reference: event.reference,
          subject: event.subject,
          rule: event.rule,
          detail: event.detail,
          until: event.until === undefined ? undefined : new Date(event.until).toISOString(),
          counters: event.counters,
        });
        for (const webhook of targets) {
          const index = webhooks.indexOf(webhook);
          enqueue({
            seq: ++seq,
            id: randomUUID(),
            index,
            webhook,
            event,
            body,
            attempts: 0,
            state: 'ready',
            cancel: undefined,
          });
        }
        pump();
      } catch (error) {
        log('error', { event: event?.type, error: String(error) }, 'webhook notification failed');
      }
    },

    flush(timeoutMs) {
      if (deliveries.size === 0) return Promise.resolve();
      // Shutdown cannot wait out a 10-minute back-off: try every waiting delivery now.
      for (const d of deliveries.values()) {
        if (d.state !== 'waiting') continue;
        d.cancel?.();
        d.cancel = undefined;
        d.state = 'ready';
        ready.push(d);
      }
      const done = new Promise<void>((resolve) => {
        const cancel = setTimer(() => {
          if (deliveries.size > 0) {
            log(
              'warn',
              { pending: deliveries.size, timeoutMs },
              'webhook deliveries still pending after flush',
            );
          }
          resolve();
        }, timeoutMs);
        idleWaiters.push(() => {
          cancel();
          resolve();
        });
      });
      pump();
      return done;
    },

    pending: () => deliveries.size,

    close() {
      if (closed) return;
      closed = true;
      const left = deliveries.size;
      for (const d of [...deliveries.values()]) remove(d);
      aborter.abort();
      if (left > 0)
        log('error', { dropped: left }, 'webhook notifier closed; undelivered deliveries dropped');
    },
  };
}
