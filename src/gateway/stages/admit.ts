/**
 * Stage 2, admit: whether the request may go on, and held back how long. In order:
 * the caps on requests one IP and all keyless callers hold at once (slots kept until
 * the response closes), the canonical target (one that has none is answered 400 and
 * never forwarded), the route class (core/routes/route-class.ts), the engine's limits
 * (per IP, per account, per route) and last the bulk export allowance, so a request
 * refused for its rate does not spend the month's export.
 *
 * Stays synchronous while the limit store answers synchronously (the memory store
 * does): no promise is created for an allowed request.
 *
 * @example
 * const admit = createAdmit(deps, answer);
 * whenReady(admit(ex), (d) => d && hold(ex, d));
 */
import type { IncomingMessage } from 'node:http';
import type { Clock } from '../../core/clock.ts';
import type { Allow, Decision, Delay } from '../../core/decision.ts';
import type { Engine } from '../../core/engine.ts';
import { isSluiceError } from '../../core/errors.ts';
import { HeldSlots, type SlotCounter } from '../../core/limiter/held-slots.ts';
import { isAnswered, type MaybePromise, whenReady } from '../../core/maybe-async.ts';
import { limitMode } from '../../core/policy/mode.ts';
import type { BulkExportVerdict } from '../../core/records.ts';
import { fromDenial, type Refusal, refusal } from '../../core/refusal.ts';
import { canonicalTarget } from '../../core/routes/canonical-path.ts';
import {
  bulkExportRefusal,
  ledgerUnavailable,
  routeAdmission,
} from '../../core/routes/route-class.ts';
import { datasetOf, type RouteMatch } from '../../core/routes/route-matcher.ts';
import type { RecordStore } from '../../store/types.ts';
import type { GatewayLogger } from '../logger.ts';
import type { Answer } from './answer.ts';
import type { Exchange } from './exchange.ts';

export interface AdmitDeps {
  engine: Engine;
  clock: Clock;
  logger: GatewayLogger;
  /** Bulk export allowances (durable). */
  bulkLedger: Pick<RecordStore, 'takeBulkExport'>;
  /** Per-IP and keyless caps shared by worker threads; this stage's own HeldSlots by default. */
  heldSlots?: { ip: SlotCounter; keyless: SlotCounter };
}

/** An admitted request: forward now, or after a delay to conform. */
export type Admitted = Allow | Delay;

/** Decides; undefined when the request was refused (and answered). */
export type AdmitStage = (ex: Exchange) => MaybePromise<Admitted | undefined>;

const FAIL_OPEN: Allow = { outcome: 'allow', limits: [], warning: undefined };

export function createAdmit(deps: AdmitDeps, answer: Answer): AdmitStage {
  /** Requests held per client IP, and of every caller without a key together. */
  const ipSlots = deps.heldSlots?.ip ?? new HeldSlots();
  const keylessSlots = deps.heldSlots?.keyless ?? new HeldSlots();

  /**
   * Takes the caller's per-IP slot, and a keyless slot when it has no account, until its
   * response closes (sent, client gone, upstream failed, timed out: 'close' comes once in
   * every case, and a slot is given back once anyway). A slow sender then holds slots of
   * its own address, never every upstream connection. False when refused (429).
   */
  function holdSlots(ex: Exchange): boolean {
    const { caller, res } = ex;
    const policy = ex.runtime.policy;
    const ip = ipSlots.take(caller.ipScope, policy.ip.concurrency);
    if (ip === undefined) {
      answer.refuse(
        res,
        caller,
        refusal('ip-concurrency', 429, 1000, {
          ipHeld: ipSlots.held(caller.ipScope),
          ipConcurrency: policy.ip.concurrency,
        }),
      );
      return false;
    }
    let keyless: (() => void) | undefined;
    if (caller.account === undefined) {
      const limit = policy.server.unauthenticatedConcurrency;
      keyless = keylessSlots.take('', limit);
      if (keyless === undefined) {
        ip();
        answer.refuse(
          res,
          caller,
          refusal('unauthenticated-concurrency', 429, 1000, {
            keylessHeld: keylessSlots.held(''),
            unauthenticatedConcurrency: limit,
          }),
        );
        return false;
      }
    }
    res.once('close', () => {
      ip();
      keyless?.();
    });
    return true;
  }

  /** The engine's decision, then the bulk allowance for a bulk route. */
  function decided(
    ex: Exchange,
    d: Decision,
    match: RouteMatch | undefined,
  ): MaybePromise<Admitted | undefined> {
    if (d.outcome === 'deny') {
      if (refuses(ex, fromDenial(d))) return undefined;
      // Shadow mode: forwarded at once (its limits still in the headers).
      d = { outcome: 'allow', limits: d.limits, warning: d.warning };
    }
    if (match?.route.class !== 'bulk') return d;
    // Checked last, so a request refused for its rate does not spend the month's
    // export; kept in the record store, so the allowance survives restarts.
    const policy = ex.runtime.policy;
    const dataset = datasetOf(match);
    const owner = ex.caller.account?.id ?? `ip:${ex.caller.ip}`;
    const { allow } = policy.bulk;
    const now = deps.clock.now();
    let verdict: MaybePromise<BulkExportVerdict>;
    try {
      verdict = deps.bulkLedger.takeBulkExport(owner, dataset, now, allow.limit, allow.periodMs);
    } catch (error) {
      verdict = Promise.reject(error);
    }
    return whenReady(
      verdict,
      (v) => {
        const refused = bulkExportRefusal(policy, dataset, now, v, d);
        if (refused === undefined) return d;
        return refuses(ex, refused) ? undefined : d;
      },
      (error) => {
        // The ledger is unreachable: an export is no emergency, so it waits.
        deps.logger.error({ err: error }, 'bulk export ledger failed');
        answer.refuse(ex.res, ex.caller, ledgerUnavailable(dataset));
        return undefined;
      },
    );
  }

  return function admit(ex) {
    const { req, res, caller } = ex;
    // Upgrades (WebSocket tunnels) are long-lived by design and use no pooled connection.
    if (ex.upgrade === undefined && !holdSlots(ex)) return undefined;
    // Routes are decided on the path the upstream will act on, and that is what is
    // forwarded; a target with no safe canonical form never reaches the upstream.
    const canonical = canonicalTarget(req.url ?? '/');
    if ('reason' in canonical) {
      answer.badPath(res, caller, canonical);
      return undefined;
    }
    ex.target = canonical.target;
    const policy = ex.runtime.policy;
    const match = ex.runtime.routes(req.method ?? 'GET', canonical.path, canonical.query);
    ex.shadow = limitMode(policy, caller.plan, match?.route) === 'shadow';
    let route = routeAdmission(
      match,
      {
        hasKey: caller.subject.keyId !== undefined,
        hasSession: () => hasCookie(req, policy.interactive.cookie),
      },
      policy,
      deps.clock.now(),
      canonical.path,
    );
    if ('refusal' in route) {
      if (refuses(ex, route.refusal)) return undefined;
      // Shadow mode: the route would refuse it outright, so its own rate is not counted;
      // the account's budget pays its cost as for any request that goes on.
      route = { cost: match?.route.cost ?? 1, route: undefined };
    }
    let decision: ReturnType<typeof deps.engine.admit>;
    try {
      decision = deps.engine.admit({
        ip: caller.ip,
        ipScope: caller.ipScope,
        account: caller.account,
        cost: route.cost,
        route: route.route,
      });
    } catch (error) {
      return failOpen(ex, match, error);
    }
    // The memory store answers at once: no closure for this request.
    if (isAnswered(decision)) return decided(ex, decision, match);
    return decision.then(
      (d) => decided(ex, d, match),
      (error) => failOpen(ex, match, error),
    );
  };

  /**
   * Refuses the request (true), or, when its limits are in shadow mode, records the
   * would-be refusal and lets it go on (false).
   */
  function refuses(ex: Exchange, r: Refusal): boolean {
    if (ex.shadow) {
      answer.shadowRefuse(ex, r);
      return false;
    }
    answer.refuse(ex.res, ex.caller, r);
    return true;
  }

  /**
   * Fails open on a store failure, whether it throws or rejects: the gateway must not
   * take the API down with it.
   */
  function failOpen(ex: Exchange, match: RouteMatch | undefined, error: unknown) {
    // Redis is not answering and the policy fails closed (logged once, by the store).
    if (isSluiceError(error) && error.code === 'SLUICE_ERR_LIMITS_UNAVAILABLE') {
      answer.limitsUnavailable(ex.res);
      return undefined;
    }
    deps.logger.error({ err: error }, 'limit store failed');
    return decided(ex, FAIL_OPEN, match);
  }
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
