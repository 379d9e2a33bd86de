/**
 * `GET /.well-known/sluice/usage`: the caller's own usage (words/usage.ts), answered by
 * the gateway, never forwarded. It needs the caller's own key: none, or one sluice does
 * not know, is 401 problem+json (whatever `server.unauthenticated` says, as there is no
 * account to show). It spends nothing of the account's budget nor of any route's rate;
 * it is counted in the caller's per-IP window like any request, so the per-IP block
 * (and an IP block, decided by identify) still refuses it: a flood of it is refused
 * before it reads anything.
 *
 * What one request reads: one per-IP window step, the account's and its rated routes'
 * limiter state (cost 0), its last incidents (indexed by account, at most 10 from the
 * last 7 days) and its bulk exports within the allowance's period.
 *
 * @example
 * const usage = createUsageRoute({ engine, records: recordStore, clock, logger });
 * if (isUsageRequest(req)) usage(ex, answer);
 */
import type { IncomingMessage } from 'node:http';
import type { Clock } from '../core/clock.ts';
import type { Engine, RouteInput, Standing } from '../core/engine.ts';
import { isAnswered, type MaybePromise, whenReady } from '../core/maybe-async.ts';
import { limitMode } from '../core/policy/mode.ts';
import type { Incident } from '../core/records.ts';
import { fromDenial, refusal } from '../core/refusal.ts';
import { batchMultiplierAt } from '../core/schedule/index.ts';
import type { RecordStore } from '../store/types.ts';
import { describeUsage, USAGE_INCIDENTS, USAGE_INCIDENTS_SINCE_MS } from '../words/usage.ts';
import { credentialOf } from './api-key-header.ts';
import { sendJson } from './http-server.ts';
import type { GatewayLogger } from './logger.ts';
import { plainProblem, sendProblem } from './problem.ts';
import type { Answer } from './stages/answer.ts';
import type { Exchange } from './stages/exchange.ts';

/** Where a partner reads its own usage. */
export const USAGE_PATH = '/.well-known/sluice/usage';

/** Whether the request is for the usage page (any query string is ignored). */
export function isUsageRequest(req: IncomingMessage): boolean {
  const url = req.url ?? '/';
  return url === USAGE_PATH || url.startsWith(`${USAGE_PATH}?`);
}

export interface UsageDeps {
  engine: Engine;
  records: Pick<RecordStore, 'listIncidents' | 'listBulkExports'>;
  clock: Clock;
  logger: GatewayLogger;
}

/** Answers one usage request of an identified caller (refused ones never get here). */
export type UsageRoute = (
  ex: Pick<Exchange, 'req' | 'res' | 'caller' | 'runtime'>,
  answer: Answer,
) => void;

export function createUsageRoute(deps: UsageDeps): UsageRoute {
  return function usage(ex, answer) {
    const { req, res, caller } = ex;
    const account = caller.account;
    if (account === undefined) {
      const rule =
        credentialOf(req, ex.runtime.policy.identity.credentials) === undefined
          ? 'key-missing'
          : 'key-unknown';
      answer.refuse(res, caller, refusal(rule, 401, 0, {}));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendProblem(res, plainProblem('method-not-allowed', 405, `${USAGE_PATH} answers GET only.`), {
        allow: 'GET, HEAD',
        'cache-control': 'no-store',
      });
      return;
    }
    const failed = (error: unknown) => {
      deps.logger.error({ err: error }, 'reading usage failed');
      answer.failed(res);
    };
    try {
      // Counted in the per-IP window only: no account, no route, no cost.
      const ipDecision = deps.engine.admit({ ip: caller.ip, ipScope: caller.ipScope, cost: 0 });
      const done = whenReady(ipDecision, (d) => {
        if (d.outcome === 'deny') {
          answer.refuse(res, caller, fromDenial(d));
          return;
        }
        return whenReady(read(ex.runtime.policy, account), (body) => sendJson(res, 200, body));
      });
      if (done instanceof Promise) done.catch(failed);
    } catch (error) {
      failed(error);
    }
  };

  function read(
    policy: Exchange['runtime']['policy'],
    account: { id: string; size: number; plan: string },
  ): MaybePromise<ReturnType<typeof describeUsage>> {
    const now = deps.clock.now();
    const batch = batchMultiplierAt(policy.offHours, now);
    const routes: RouteInput[] = policy.routes
      .filter((r) => r.rate !== undefined)
      .map((r) => ({
        name: r.name,
        rate:
          r.class === 'batch'
            ? { limit: r.rate!.limit * batch, periodMs: r.rate!.periodMs }
            : r.rate,
      }));
    const plan = policy.plans[account.plan];
    const standing = deps.engine.standing(account, routes);
    const incidents = deps.records.listIncidents({
      accountId: account.id,
      since: now - USAGE_INCIDENTS_SINCE_MS,
      limit: USAGE_INCIDENTS,
    });
    const exports = deps.records.listBulkExports(account.id, now - policy.bulk.allow.periodMs);
    const describe = ([s, i, e]: [Standing, Incident[], { dataset: string; at: number }[]]) =>
      describeUsage({
        policy,
        now,
        account,
        mode: limitMode(policy, plan, undefined),
        standing: s,
        incidents: i,
        exports: e,
      });
    // Answered at once by the memory and SQLite stores; otherwise read together, so no
    // failure of one read is left unhandled while another is awaited.
    if (isAnswered(standing) && isAnswered(incidents) && isAnswered(exports)) {
      return describe([standing, incidents, exports]);
    }
    return Promise.all([standing, incidents, exports]).then(describe);
  }
}
