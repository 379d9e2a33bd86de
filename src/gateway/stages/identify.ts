/**
 * Stage 1, identify: who is calling — the client IP (forwarding headers honoured only
 * from trusted proxies), the API key and its account and plan — or why the caller is
 * refused before any limit is counted (a blocked IP, a missing, unknown, revoked or
 * suspended key). Reads the identity cache only: no I/O on the request path.
 *
 * @example
 *   const who = identifyCaller(req, runtime, deps);
 *   if ('refusal' in who) answer.refuse(res, who.caller, who.refusal);
 *   else admit(who.account, who.plan);
 */
import type { IncomingMessage } from 'node:http';
import { hashApiKey } from '../../core/api-key.ts';
import type { Clock } from '../../core/clock.ts';
import type { RuleId } from '../../core/decision.ts';
import type { FactsOf } from '../../core/incident-facts.ts';
import type { Plan } from '../../core/policy/types.ts';
import type { Subject } from '../../core/records.ts';
import { type Refusal, refusal } from '../../core/refusal.ts';
import { apiKeyOf } from '../api-key-header.ts';
import { clientIp } from '../client-ip.ts';
import type { IdentityCache } from '../identity-cache.ts';
import type { Runtime } from '../runtime.ts';

export interface Caller {
  ip: string;
  subject: Subject;
  account: { id: string; size: number; plan: string } | undefined;
  plan: Plan | undefined;
}

export interface CallerDeps {
  clock: Clock;
  identities: IdentityCache;
  /** An active block of this IP (by a safeguard or support), if any. */
  ipBlock(ip: string): { until: number | undefined; reason: string } | undefined;
}

/** The caller, or the caller (as far as known) with the reason it is refused. */
export function identifyCaller(
  req: IncomingMessage,
  runtime: Runtime,
  deps: CallerDeps,
): Caller | { caller: Caller; refusal: Refusal } {
  const policy = runtime.policy;
  const ip = clientIp(req.socket.remoteAddress, req.headers, runtime.trusted);
  const caller: Caller = { ip, subject: { ip }, account: undefined, plan: undefined };
  const refused = <R extends RuleId>(
    rule: R,
    status: 401 | 403,
    retryAfterMs: number,
    counters: FactsOf<R>,
  ) => ({ caller, refusal: refusal(rule, status, retryAfterMs, counters) });

  const block = deps.ipBlock(ip);
  if (block !== undefined) {
    const left = block.until === undefined ? 0 : block.until - deps.clock.now();
    if (block.until === undefined || left > 0) {
      return refused('ip-blocked', 403, left, {
        reason: block.reason,
        blockedUntil:
          block.until === undefined ? 'until lifted' : new Date(block.until).toISOString(),
      });
    }
  }
  const key = apiKeyOf(req.headers);
  if (key === undefined) {
    return policy.server.unauthenticated === 'refuse' ? refused('key-missing', 401, 0, {}) : caller;
  }
  const record = deps.identities.byHash(hashApiKey(key));
  if (record === undefined) {
    return policy.server.unauthenticated === 'refuse' ? refused('key-unknown', 401, 0, {}) : caller;
  }
  caller.subject = { accountId: record.accountId, keyId: record.id, ip };
  if (record.status === 'revoked') {
    return refused('key-revoked', 403, 0, { keyStatus: 'revoked', reason: record.reason ?? '' });
  }
  if (record.status === 'suspended') {
    const left = (record.suspendedUntil ?? Number.POSITIVE_INFINITY) - deps.clock.now();
    if (left > 0) {
      return refused('key-suspended', 403, Number.isFinite(left) ? left : 0, {
        keyStatus: 'suspended',
        reason: record.reason ?? '',
      });
    }
  }
  const account = deps.identities.account(record.accountId);
  const planName =
    account !== undefined && account.plan in policy.plans ? account.plan : policy.defaultPlan;
  caller.account = { id: record.accountId, size: account?.size ?? 0, plan: planName };
  caller.plan = policy.plans[planName];
  return caller;
}
