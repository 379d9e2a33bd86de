/**
 * What a request's route class decides before and after the limits, as pure functions of
 * the policy, the route matched and `now`:
 * - `non-public`: an API-key caller is refused (403); an interactive session passes;
 * - `batch`: outside the off-hours windows (when the policy confines them) refused until
 *   the next one opens; inside, the route's own rate is multiplied;
 * - `bulk`: the export allowance's verdict as a refusal that says when the next export is
 *   allowed (the allowance itself is counted in the record store).
 * The request stages (gateway/stages/admit.ts) carry these out; nothing here does I/O.
 *
 * @example
 * const a = routeAdmission(match, { hasKey: true, hasSession: () => false }, policy, now, '/reports/1');
 * if ('refusal' in a) answer.refuse(res, caller, a.refusal);
 * else engine.admit({ ip, account, cost: a.cost, route: a.route });
 */
import type { RouteInput } from '../engine.ts';
import type { Policy, RoutePolicy } from '../policy/types.ts';
import type { BulkExportVerdict } from '../records.ts';
import { type Refusal, refusal } from '../refusal.ts';
import { batchVerdict, bulkRefusal, scaleRate } from './route-limits.ts';
import type { RouteMatch } from './route-matcher.ts';

/** What the route adds to the engine's admission, or why the request is refused first. */
export type RouteAdmission =
  | { readonly refusal: Refusal }
  | {
      /** What the request costs of the account's budget. */
      readonly cost: number;
      /** The route's own rate (scaled inside off-hours for batch routes), if it has one. */
      readonly route: RouteInput | undefined;
    };

const PUBLIC: RouteAdmission = { cost: 1, route: undefined };

/**
 * The route's class decisions before the limits are counted.
 *
 * @example
 * routeAdmission(undefined, who, policy, now, '/x'); // { cost: 1, route: undefined }
 */
export function routeAdmission(
  match: RouteMatch | undefined,
  /** `hasSession` is asked only for a non-public route (it reads the cookies). */
  who: { readonly hasKey: boolean; hasSession(): boolean },
  policy: Policy,
  now: number,
  path: string,
): RouteAdmission {
  if (match === undefined) return PUBLIC;
  const route = match.route;
  // Interactive callers (a session, no key) pass; automation with a key does not.
  if (route.class === 'non-public' && (who.hasKey || !who.hasSession())) {
    return { refusal: refusal('non-public', 403, 0, { route: route.name, path }) };
  }
  let multiplier = 1;
  if (route.class === 'batch') {
    const verdict = batchVerdict(policy.offHours, route.name, now);
    if (!verdict.allowed) {
      return {
        refusal: refusal('batch-window', 429, verdict.retryAfterMs, verdict.counters),
      };
    }
    multiplier = verdict.multiplier;
  }
  return {
    cost: route.cost,
    route:
      route.rate === undefined
        ? undefined
        : {
            name: route.name,
            rate: scaleRate(route.rate, multiplier),
            batch: route.class === 'batch',
            incremental: absentParam(route),
          },
  };
}

/** The first query parameter whose absence the route requires (its incremental filter). */
function absentParam(route: RoutePolicy): string | undefined {
  return route.query.find((q) => !q.present)?.param;
}

/**
 * The policy's incremental-sync filter: the parameter whose absence makes a listing a
 * full listing (`modifiedAfter` in the built-in policy), for explanations to suggest.
 *
 * @example
 * incrementalFilter(defaultPolicy()); // 'modifiedAfter'
 */
export function incrementalFilter(policy: Policy): string | undefined {
  for (const route of policy.routes) {
    const param = absentParam(route);
    if (param !== undefined) return param;
  }
  return undefined;
}

/**
 * A bulk export refused by the allowance, with when the next one is allowed; undefined
 * when the export may run. `limits` and `warning` are the engine's, for the headers.
 *
 * @example
 * bulkExportRefusal(policy, 'companies', now, { allowed: false, used: 1, nextAllowedAt: now + 86_400_000 });
 * // refusal 'bulk-export', 429, retryAfterMs 86400000, note 'next export of companies allowed …'
 */
export function bulkExportRefusal(
  policy: Policy,
  dataset: string,
  now: number,
  verdict: BulkExportVerdict,
  headers: Pick<Refusal, 'limits' | 'warning'> = { limits: [], warning: undefined },
): Refusal | undefined {
  if (verdict.allowed) return undefined;
  const retryAfterMs = verdict.nextAllowedAt === undefined ? 0 : verdict.nextAllowedAt - now;
  const r = bulkRefusal(
    policy,
    dataset,
    now,
    retryAfterMs,
    verdict.used,
    incrementalFilter(policy),
  );
  return refusal('bulk-export', 429, retryAfterMs, r.counters, {
    limits: headers.limits,
    warning: headers.warning,
    note: r.note,
  });
}

/**
 * The export ledger could not be asked: an export is no emergency, so it waits a minute.
 *
 * @example
 * ledgerUnavailable('companies').retryAfterMs; // 60000
 */
export function ledgerUnavailable(dataset: string): Refusal {
  return refusal('bulk-export', 429, 60_000, { dataset, ledger: 'unavailable' });
}
