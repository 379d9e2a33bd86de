/**
 * The request pipeline: identify → refuse revoked or suspended keys → per-IP and keyless
 * caps on requests held at once → per-IP warn/block → per-account admission (allow / delay / 429) → per-account concurrency and queue →
 * proxy → observe. A refusal is answered here and never reaches the upstream.
 *
 * The hot path stays synchronous while the limit store answers synchronously (the
 * memory store does): no promise is created for an allowed request.
 */
import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Decision, Deny, IpWarning, LimitState, RuleId } from '../core/decision.ts';
import type { Engine } from '../core/engine.ts';
import type { AccountQueues } from '../core/limiter/account-queue.ts';
import { HeldSlots } from '../core/limiter/held-slots.ts';
import type { Policy, Rate } from '../core/policy/types.ts';
import type { BulkExportVerdict, Subject } from '../core/records.ts';
import { canonicalTarget } from '../core/routes/canonical-path.ts';
import { batchVerdict, bulkRefusal, scaleRate } from '../core/routes/route-limits.ts';
import type { RouteMatch, RouteMatcher } from '../core/routes/route-matcher.ts';
import { datasetOf } from '../core/routes/route-matcher.ts';
import type { ObservationKind } from '../core/safeguard/index.ts';
import type { RecordStore } from '../store/types.ts';
import { answerBadPath, BAD_PATH_RULE } from './bad-path.ts';
import { type Caller, type CallerDeps, identifyCaller } from './caller.ts';
import type { IncidentRecorder } from './incident-recorder.ts';
import type { GatewayLogger } from './logger.ts';
import type { GatewayMetrics } from './metrics.ts';
import { denialProblem, PROBLEM_CONTENT_TYPE, plainProblem } from './problem.ts';
import { rateLimitHeader, rateLimitPolicyHeader } from './rate-limit-headers.ts';
import type { UpstreamProxy } from './upstream-proxy.ts';

/** Response header on a request that was held to conform: how long, in milliseconds. */
export const DELAY_HEADER = 'sluice-delay-ms';
/** Response header when the per-IP warning threshold is crossed. */
export const WARNING_HEADER = 'sluice-warning';

/** What the pipeline needs, on top of what identifying the caller needs (caller.ts). */
export interface PipelineDeps extends CallerDeps {
  engine: Engine;
  queues: AccountQueues;
  incidents: IncidentRecorder;
  proxy: UpstreamProxy;
  logger: GatewayLogger;
  metrics: GatewayMetrics;
  /** Bulk export allowances (durable). */
  bulkLedger: Pick<RecordStore, 'takeBulkExport'>;
  routes(): RouteMatcher;
  /** Reports behaviour to the safeguards. */
  observe(kind: ObservationKind, subject: Subject): void;
  /** Called for the first IP warning of each window (webhook, …). */
  onWarning?(warning: IpWarning, subject: Subject): void;
  /** Connects an admitted upgrade (WebSocket) to the upstream; `closed` when it ends. */
  tunnel(
    req: IncomingMessage,
    target: string,
    socket: Duplex,
    head: Buffer,
    set: Record<string, string>,
    closed: () => void,
  ): void;
}

/** Upstream answers that mean the request itself was malformed (a storm of them is a safeguard rule). */
const MALFORMED = new Set([400, 404, 405, 406, 411, 413, 414, 415, 422, 431]);

/** One admitted request's place in its account's queue, for shutdown and timeouts. */
interface Waiter {
  readonly accountId: string;
  readonly ticket: number;
  readonly res: ServerResponse;
  start(): void;
}

export interface Pipeline {
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** An `Upgrade` request: admitted like any other, then tunnelled; refusals are HTTP answers. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Answers every delayed or queued request (503) — used when shutting down. */
  drainWaiting(): void;
  /** Requests currently delayed or queued. */
  waiting(): number;
}

export function createPipeline(deps: PipelineDeps): Pipeline {
  const waiters = new Map<number, Waiter>();
  const upgrades = new WeakMap<ServerResponse, { socket: Duplex; head: Buffer }>();
  const delayed = new Set<{ res: ServerResponse; cancel(): void }>();
  /** Each admitted request's canonical target: what is forwarded, never `req.url`. */
  const targets = new WeakMap<IncomingMessage, string>();
  /** Requests held per client IP, and of every caller without a key together. */
  const ipSlots = new HeldSlots();
  const keylessSlots = new HeldSlots();

  function limitHeaders(limits: readonly LimitState[], into: Record<string, string>) {
    if (limits.length === 0) return;
    into['ratelimit-policy'] = rateLimitPolicyHeader(limits);
    into.ratelimit = rateLimitHeader(limits);
  }

  function warningHeaders(
    caller: Caller,
    warning: IpWarning | undefined,
    into: Record<string, string>,
  ) {
    if (warning === undefined) return;
    into[WARNING_HEADER] = `"ip";count=${warning.count};limit=${warning.limit}`;
    if (warning.report) {
      deps.metrics.warnings.inc();
      deps.logger.warn(
        {
          event: 'ip-warning',
          ip: warning.ip,
          count: warning.count,
          limit: warning.limit,
          ...caller.subject,
        },
        'IP crossed the warning threshold',
      );
      deps.onWarning?.(warning, caller.subject);
    }
  }

  /** Answers a refusal: incident, problem+json, headers. Never reaches the upstream. */
  function refuse(
    res: ServerResponse,
    caller: Caller,
    rule: RuleId,
    status: number,
    retryAfterMs: number,
    counters: Readonly<Record<string, number | string>>,
    limits: readonly LimitState[] = [],
    warning?: IpWarning,
    note?: string,
  ) {
    const reference = deps.incidents.record(rule, caller.subject, counters, note);
    const retryAfter = retryAfterMs > 0 ? Math.max(1, Math.ceil(retryAfterMs / 1000)) : 0;
    const headers: Record<string, string> = {
      'content-type': PROBLEM_CONTENT_TYPE,
      'cache-control': 'no-store',
    };
    if (retryAfter > 0) headers['retry-after'] = String(retryAfter);
    limitHeaders(limits, headers);
    warningHeaders(caller, warning, headers);
    deps.metrics.refused.inc({ rule });
    deps.logger.debug({ event: 'refused', rule, reference, ...caller.subject }, 'request refused');
    const body = JSON.stringify(denialProblem(rule, status, reference, retryAfter));
    headers['content-length'] = String(Buffer.byteLength(body));
    res.writeHead(status, headers);
    res.end(body);
    if (status === 429) deps.observe('rejected-429', caller.subject);
    else if (rule.startsWith('key-')) deps.observe('auth-failure', caller.subject);
    else if (rule === 'non-public' && caller.subject.keyId !== undefined) {
      deps.observe('non-public-attempt', caller.subject);
    }
  }

  function identify(req: IncomingMessage, res: ServerResponse): Caller | undefined {
    const who = identifyCaller(req, deps);
    if ('refusal' in who) {
      const r = who.refusal;
      refuse(res, who.caller, r.rule, r.status, r.retryAfterMs, r.counters);
      return undefined;
    }
    return who;
  }

  /**
   * Takes the caller's per-IP slot, and a keyless slot when it has no account, until its
   * response closes (sent, client gone, upstream failed, timed out: 'close' comes once in
   * every case, and a slot is given back once anyway). A slow sender then holds slots of
   * its own address, never every upstream connection. False when refused (429).
   */
  function holdSlots(res: ServerResponse, caller: Caller): boolean {
    const policy = deps.policy();
    const ip = ipSlots.take(caller.ip, policy.ip.concurrency);
    if (ip === undefined) {
      refuse(res, caller, 'ip-concurrency', 429, 1000, {
        ipHeld: ipSlots.held(caller.ip),
        ipConcurrency: policy.ip.concurrency,
      });
      return false;
    }
    let keyless: (() => void) | undefined;
    if (caller.account === undefined) {
      const limit = policy.server.unauthenticatedConcurrency;
      keyless = keylessSlots.take('', limit);
      if (keyless === undefined) {
        ip();
        refuse(res, caller, 'unauthenticated-concurrency', 429, 1000, {
          keylessHeld: keylessSlots.held(''),
          unauthenticatedConcurrency: limit,
        });
        return false;
      }
    }
    res.once('close', () => {
      ip();
      keyless?.();
    });
    return true;
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const caller = identify(req, res);
    if (caller === undefined) return;
    // Upgrades (WebSocket tunnels) are long-lived by design and use no pooled connection.
    if (!upgrades.has(res) && !holdSlots(res, caller)) return;
    const policy = deps.policy();
    // Routes are decided on the path the upstream will act on, and that is what is
    // forwarded; a target with no safe canonical form never reaches the upstream.
    const canonical = canonicalTarget(req.url ?? '/');
    if ('reason' in canonical) {
      answerBadPath(res, canonical);
      deps.metrics.refused.inc({ rule: BAD_PATH_RULE });
      deps.observe('malformed-4xx', caller.subject);
      return;
    }
    targets.set(req, canonical.target);
    const { path } = canonical;
    const match = deps.routes()(req.method ?? 'GET', path, canonical.query);
    let cost = 1;
    let routeRate: { name: string; rate: Rate } | undefined;
    if (match !== undefined) {
      const route = match.route;
      cost = route.cost;
      if (route.class === 'non-public') {
        // Interactive callers (a session, no key) pass; automation with a key does not.
        if (caller.subject.keyId !== undefined || !hasCookie(req, policy.interactive.cookie)) {
          refuse(res, caller, 'non-public', 403, 0, { route: route.name, path });
          return;
        }
      }
      let multiplier = 1;
      if (route.class === 'batch') {
        const verdict = batchVerdict(policy.offHours, route.name, deps.clock.now());
        if (!verdict.allowed) {
          refuse(res, caller, 'batch-window', 429, verdict.retryAfterMs, verdict.counters);
          return;
        }
        multiplier = verdict.multiplier;
      }
      if (route.rate !== undefined)
        routeRate = { name: route.name, rate: scaleRate(route.rate, multiplier) };
    }
    const decision = deps.engine.admit({
      ip: caller.ip,
      account: caller.account,
      cost,
      route: routeRate,
    });
    if (decision instanceof Promise) {
      decision.then(
        (d) => decide(req, res, caller, d, match),
        (error) => {
          deps.logger.error({ err: error }, 'limit store failed');
          // Fail open on a store failure: the gateway must not take the API down with it.
          decide(req, res, caller, { outcome: 'allow', limits: [], warning: undefined }, match);
        },
      );
    } else decide(req, res, caller, decision, match);
  }

  function decide(
    req: IncomingMessage,
    res: ServerResponse,
    caller: Caller,
    d: Decision,
    match: RouteMatch | undefined,
  ) {
    if (d.outcome === 'deny') {
      const deny = d as Deny;
      refuse(
        res,
        caller,
        deny.rule,
        deny.status,
        deny.retryAfterMs,
        deny.counters,
        deny.limits,
        deny.warning,
      );
      return;
    }
    if (match?.route.class === 'bulk') {
      // Checked last, so a request refused for its rate does not spend the month's
      // export; kept in the record store, so the allowance survives restarts.
      const dataset = datasetOf(match);
      const owner = caller.account?.id ?? `ip:${caller.ip}`;
      const { allow } = deps.policy().bulk;
      const now = deps.clock.now();
      let verdict: ReturnType<RecordStore['takeBulkExport']>;
      try {
        verdict = deps.bulkLedger.takeBulkExport(owner, dataset, now, allow.limit, allow.periodMs);
      } catch (error) {
        verdict = Promise.reject(error);
      }
      const after = (v: BulkExportVerdict) => {
        if (v.allowed) return proceed(req, res, caller, d);
        const retryAfterMs = v.nextAllowedAt === undefined ? 0 : v.nextAllowedAt - now;
        const refusal = bulkRefusal(deps.policy(), dataset, now, retryAfterMs, v.used);
        refuse(
          res,
          caller,
          'bulk-export',
          429,
          retryAfterMs,
          refusal.counters,
          d.limits,
          d.warning,
          refusal.note,
        );
      };
      if (verdict instanceof Promise) {
        verdict.then(after, (error) => {
          // The ledger is unreachable: an export is no emergency, so it waits.
          deps.logger.error({ err: error }, 'bulk export ledger failed');
          refuse(res, caller, 'bulk-export', 429, 60_000, { dataset, ledger: 'unavailable' });
        });
      } else after(verdict);
      return;
    }
    proceed(req, res, caller, d);
  }

  function proceed(req: IncomingMessage, res: ServerResponse, caller: Caller, d: Decision) {
    if (d.outcome === 'deny') return;
    const headers: Record<string, string> = {};
    limitHeaders(d.limits, headers);
    warningHeaders(caller, d.warning, headers);
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
        admitToQueue(req, res, caller, headers);
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
    admitToQueue(req, res, caller, headers);
  }

  function admitToQueue(
    req: IncomingMessage,
    res: ServerResponse,
    caller: Caller,
    headers: Record<string, string>,
  ) {
    const account = caller.account;
    const plan = caller.plan;
    if (account === undefined || plan === undefined) {
      forward(req, res, caller, headers, undefined);
      return;
    }
    const slot = deps.queues.acquire(account.id, plan.concurrency, plan.queue);
    if (slot.status === 'run') {
      forward(req, res, caller, headers, account.id);
      return;
    }
    const counters = {
      inflight: deps.queues.inflight(account.id),
      queued: deps.queues.queued(account.id),
      concurrency: plan.concurrency,
      queue: plan.queue,
    };
    if (slot.status === 'full') {
      refuse(res, caller, 'account-queue', 429, 1000, counters);
      return;
    }
    const ticket = slot.ticket;
    const clearTimer = deps.clock.after(plan.queueTimeoutMs, () => {
      if (deps.queues.cancel(account.id, ticket)) {
        waiters.delete(ticket);
        refuse(res, caller, 'account-queue-timeout', 429, 1000, counters);
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
        forward(req, res, caller, headers, account.id);
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

  function forward(
    req: IncomingMessage,
    res: ServerResponse,
    caller: Caller,
    headers: Record<string, string>,
    slotOf: string | undefined,
  ) {
    const policy = deps.policy();
    const ids = policy.server.identityHeaders;
    const set: Record<string, string> = { 'x-forwarded-for': caller.ip };
    if (caller.account !== undefined) set[ids.account.toLowerCase()] = caller.account.id;
    if (caller.subject.keyId !== undefined) set[ids.key.toLowerCase()] = caller.subject.keyId;
    const host = req.headers.host;
    if (host !== undefined) set['x-forwarded-host'] = host;
    deps.metrics.forwarded.inc();
    const target = targets.get(req) ?? '/';
    const upgrade = upgrades.get(res);
    if (upgrade !== undefined) {
      res.detachSocket(upgrade.socket as Socket);
      deps.tunnel(req, target, upgrade.socket, upgrade.head, set, () => {
        if (slotOf !== undefined) releaseSlot(slotOf);
      });
      return;
    }
    const started = performance.now();
    deps.proxy.forward(req, res, {
      target,
      set,
      strip: identityStrip(policy),
      responseHeaders: headers,
      done(outcome) {
        if (slotOf !== undefined) releaseSlot(slotOf);
        const failed = outcome.error !== undefined && outcome.error !== 'client-gone';
        deps.metrics.upstreamResponses.inc({
          class: failed ? 'failed' : statusClass(outcome.status),
        });
        deps.metrics.upstreamSeconds.observe((performance.now() - started) / 1000);
        if (outcome.status === 401 || outcome.status === 403)
          deps.observe('auth-failure', caller.subject);
        else if (MALFORMED.has(outcome.status)) deps.observe('malformed-4xx', caller.subject);
        if (outcome.error !== undefined && outcome.error !== 'client-gone') {
          deps.logger.warn(
            { event: 'upstream-failure', error: outcome.error, ...caller.subject },
            'upstream failed',
          );
        }
      },
    });
  }

  return {
    handle,
    handleUpgrade(req, socket, head) {
      // A response bound to the raw socket, so refusals are the same problem+json answers.
      const res = new ServerResponse(req);
      res.assignSocket(socket as Socket);
      res.shouldKeepAlive = false;
      res.once('finish', () => socket.end());
      upgrades.set(res, { socket, head });
      handle(req, res);
    },
    drainWaiting() {
      for (const entry of [...delayed]) {
        entry.cancel();
        answerShuttingDown(entry.res);
      }
      for (const waiter of [...waiters.values()]) {
        deps.queues.cancel(waiter.accountId, waiter.ticket);
        waiters.delete(waiter.ticket);
        answerShuttingDown(waiter.res);
      }
    },
    waiting: () => waiters.size + delayed.size,
  };
}

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];

/** `2xx` for 204: a label with five values, not one per status. */
function statusClass(status: number): string {
  return STATUS_CLASSES[Math.floor(status / 100) - 1] ?? 'other';
}

/** Whether the request carries the named cookie (an interactive session). */
function hasCookie(req: IncomingMessage, name: string): boolean {
  const cookie = req.headers.cookie;
  if (cookie === undefined) return false;
  for (const part of cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name && part.slice(eq + 1).trim().length > 0)
      return true;
  }
  return false;
}

/** A request still waiting when the gateway stops is answered, not dropped. */
function answerShuttingDown(res: ServerResponse) {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(503, {
    'content-type': PROBLEM_CONTENT_TYPE,
    'retry-after': '5',
    connection: 'close',
  });
  res.end(
    JSON.stringify(
      plainProblem(
        'shutting-down',
        503,
        'The gateway is restarting; retry this request in a few seconds.',
      ),
    ),
  );
}

const stripCache = new WeakMap<Policy, ReadonlySet<string>>();

/**
 * Headers a client may not send upstream: who the caller is (sluice sets those), and
 * the headers some frameworks read as the real path or method (Symfony and IIS take
 * `X-Original-URL` / `X-Rewrite-URL` as the path, method-override middleware takes
 * `X-HTTP-Method-Override`), which would let a request be routed upstream somewhere
 * other than where sluice's route rules placed it.
 */
export function identityStrip(policy: Policy): ReadonlySet<string> {
  let set = stripCache.get(policy);
  if (set === undefined) {
    const ids = policy.server.identityHeaders;
    set = new Set([
      ids.account.toLowerCase(),
      ids.key.toLowerCase(),
      'x-forwarded-for',
      'forwarded',
      'x-forwarded-host',
      'x-forwarded-proto',
      'x-forwarded-port',
      'x-forwarded-prefix',
      'x-real-ip',
      'x-original-url',
      'x-rewrite-url',
      'x-http-method-override',
      'x-http-method',
      'x-method-override',
    ]);
    stripCache.set(policy, set);
  }
  return set;
}
