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
import type { CredentialSource, Plan } from '../../core/policy/types.ts';
import { blockRefuses, type IpBlock, type Subject } from '../../core/records.ts';
import { type Refusal, refusal } from '../../core/refusal.ts';
import { type CredentialRead, credentialOf } from '../api-key-header.ts';
import { clientIp, isListed } from '../client-ip.ts';
import type { DelegateAnswer } from '../delegated-identity.ts';
import type { IdentityCache } from '../identity-cache.ts';
import type { Runtime } from '../runtime.ts';

export interface Caller {
  ip: string;
  /**
   * What the per-IP limits count this request under: the IP, or the IP and the account
   * when the IP is in `ip.sharedEgress` (many partners behind one address).
   */
  ipScope: string;
  /** When the request arrived (the clock's now): the safeguards ask whether it was sent after a 429. */
  arrivedAt: number;
  subject: Subject;
  account: { id: string; size: number; plan: string } | undefined;
  plan: Plan | undefined;
  /**
   * Where the caller's credential was found, when it is removed before forwarding
   * (`identity.stripCredential` for the key's origin); undefined: forwarded as sent.
   */
  stripCredential?: readonly CredentialSource[];
}

/**
 * What the pipeline read before this stage, so it is not read twice: the credential,
 * and the delegate's answer about it when sluice's own store does not know it.
 */
export interface IdentifyInput {
  readonly credential: CredentialRead | undefined;
  readonly delegated?: DelegateAnswer;
}

export interface CallerDeps {
  clock: Clock;
  identities: IdentityCache;
  /** A block of this IP (by a safeguard or support), if any; ended ones too. */
  ipBlock(ip: string): Pick<IpBlock, 'until' | 'reason' | 'actor' | 'earnedBy'> | undefined;
}

type ActiveBlock = Pick<IpBlock, 'until' | 'reason' | 'actor' | 'earnedBy'> & { leftMs: number };

/** The block if it still refuses at `now` (with the time left; 0: until lifted). */
function activeBlock(
  block: Pick<IpBlock, 'until' | 'reason' | 'actor' | 'earnedBy'> | undefined,
  now: number,
): ActiveBlock | undefined {
  if (block === undefined) return undefined;
  const leftMs = block.until === undefined ? 0 : block.until - now;
  return block.until === undefined || leftMs > 0 ? { ...block, leftMs } : undefined;
}

/** The caller and why it is refused (module functions: no closures per request). */
function refused<R extends RuleId>(
  caller: Caller,
  rule: R,
  status: 401 | 403,
  retryAfterMs: number,
  counters: FactsOf<R>,
) {
  return { caller, refusal: refusal(rule, status, retryAfterMs, counters) };
}

/** The `ip-blocked` refusal of an active block. */
function blocked(caller: Caller, b: ActiveBlock) {
  const facts: FactsOf<'ip-blocked'> = {
    reason: b.reason,
    blockedUntil: b.until === undefined ? 'until lifted' : new Date(b.until).toISOString(),
    by: b.actor,
  };
  if (b.earnedBy !== undefined) facts.earnedByKey = b.earnedBy.keyId;
  return refused(caller, 'ip-blocked', 403, b.leftMs, facts);
}

/** The caller, or the caller (as far as known) with the reason it is refused. */
export function identifyCaller(
  req: IncomingMessage,
  runtime: Runtime,
  deps: CallerDeps,
  input?: IdentifyInput,
): Caller | { caller: Caller; refusal: Refusal } {
  const policy = runtime.policy;
  const ip = clientIp(req.socket.remoteAddress, req.headers, runtime.trusted);
  const caller: Caller = {
    ip,
    ipScope: ip,
    arrivedAt: deps.clock.now(),
    subject: { ip },
    account: undefined,
    plan: undefined,
  };
  const block = activeBlock(deps.ipBlock(ip), deps.clock.now());
  // A block a key earned is decided once the key is known; any other refuses at once.
  if (block !== undefined && block.earnedBy === undefined) return blocked(caller, block);
  const read =
    input === undefined ? credentialOf(req, policy.identity.credentials) : input.credential;
  // A delegate that failed with `onFailure: anonymous`: served as if no key was sent.
  if (read === undefined || input?.delegated?.kind === 'failed') {
    if (block !== undefined) return blocked(caller, block);
    return policy.server.unauthenticated === 'refuse'
      ? refused(caller, 'key-missing', 401, 0, {})
      : caller;
  }
  // Two different keys (the pipeline answers 400 before this): neither is trusted.
  const record =
    'conflict' in read ? undefined : deps.identities.byHash(hashApiKey(read.credential));
  if (record === undefined) {
    if (input?.delegated?.kind === 'account' && 'sources' in read) {
      const { account } = input.delegated;
      // A delegated caller has no key id: only a block its account earned refuses it.
      if (block !== undefined && blockRefuses(block, { keyId: '', accountId: account.id })) {
        return blocked(caller, block);
      }
      return delegatedCaller(caller, account, read.sources, runtime);
    }
    if (block !== undefined) return blocked(caller, block);
    return policy.server.unauthenticated === 'refuse'
      ? refused(caller, 'key-unknown', 401, 0, {})
      : caller;
  }
  caller.subject = { accountId: record.accountId, keyId: record.id, ip };
  if ('sources' in read && policy.identity.stripCredential[record.origin ?? 'sluice']) {
    caller.stripCredential = read.sources;
  }
  const valid =
    record.status === 'active' ||
    (record.status === 'suspended' &&
      (record.suspendedUntil ?? Number.POSITIVE_INFINITY) <= deps.clock.now());
  if (
    block !== undefined &&
    blockRefuses(block, valid ? { keyId: record.id, accountId: record.accountId } : undefined)
  ) {
    return blocked(caller, block);
  }
  if (record.status === 'revoked') {
    return refused(caller, 'key-revoked', 403, 0, {
      keyStatus: 'revoked',
      reason: record.reason ?? '',
      ...(record.statusBy === undefined ? {} : { by: record.statusBy }),
    });
  }
  if (record.status === 'suspended') {
    const left = (record.suspendedUntil ?? Number.POSITIVE_INFINITY) - deps.clock.now();
    if (left > 0) {
      return refused(caller, 'key-suspended', 403, Number.isFinite(left) ? left : 0, {
        keyStatus: 'suspended',
        reason: record.reason ?? '',
        ...(record.statusBy === undefined ? {} : { by: record.statusBy }),
      });
    }
  }
  const account = deps.identities.account(record.accountId);
  const planName =
    account !== undefined && account.plan in policy.plans ? account.plan : policy.defaultPlan;
  caller.account = { id: record.accountId, size: account?.size ?? 0, plan: planName };
  if (isListed(runtime.sharedEgress, ip)) caller.ipScope = `${ip}#${record.accountId}`;
  caller.plan = policy.plans[planName];
  return caller;
}

/**
 * The caller of a credential only the delegate knows: its account as the delegate
 * named it (a plan the policy lacks falls back to the default plan), no key id.
 */
function delegatedCaller(
  caller: Caller,
  account: { id: string; size: number; plan: string },
  sources: readonly CredentialSource[],
  runtime: Runtime,
): Caller {
  const policy = runtime.policy;
  const planName = account.plan in policy.plans ? account.plan : policy.defaultPlan;
  caller.subject = { accountId: account.id, ip: caller.ip };
  caller.account = { id: account.id, size: account.size, plan: planName };
  caller.plan = policy.plans[planName];
  if (isListed(runtime.sharedEgress, caller.ip)) caller.ipScope = `${caller.ip}#${account.id}`;
  if (policy.identity.stripCredential.delegated) caller.stripCredential = sources;
  return caller;
}
