/**
 * The one place a key's status changes: `sluice keys revoke|reinstate`, the admin API's
 * revoke and reinstate, and the safeguards' suspensions and revocations all come here,
 * so each gets the same id reading, the same "already in that status" check, the same
 * audit entry and the same update of the running gateway's cache.
 *
 * @example
 * const result = await changeKeyStatus(
 *   { store, now: clock.now(), keyChanged: (k) => identities.putKey(k) },
 *   { keyId: '7kq4m9xt2b', to: 'revoked', reason: 'ticket 42', actor: 'admin:dana' },
 * );
 * if (result.outcome === 'not-found') reply404();
 */
import { normalizeKeyId } from '../core/api-key.ts';
import type { Actor, ApiKeyRecord, AuditAction, KeyStatus } from '../core/records.ts';
import type { RecordsContext } from './context.ts';

export interface KeyStatusChange {
  /** As typed: any case, `O`/`I`/`L` read as `0`/`1`/`1` (a key id read over the phone). */
  readonly keyId: string;
  readonly to: KeyStatus;
  /** When a suspension ends (ms since the epoch); ignored for the other statuses. */
  readonly until?: number;
  /** Why, in words: the audit entry's reason, and the key's. */
  readonly reason: string;
  readonly actor: Actor;
  /** The incident behind the change (a safeguard's), linked from the audit entry and the key. */
  readonly reference?: string;
}

/**
 * - `changed`: stored and audited; `was` is the key before.
 * - `unchanged`: nothing written. The key is already in that status (and, suspended,
 *   until the same time), or it is revoked and the change is a suspension, which would
 *   shorten the revocation.
 * - `not-found`: no key has that id.
 */
export type KeyStatusResult =
  | {
      readonly outcome: 'changed';
      readonly key: ApiKeyRecord;
      readonly was: ApiKeyRecord;
      readonly action: AuditAction;
    }
  | { readonly outcome: 'unchanged'; readonly key: ApiKeyRecord }
  | { readonly outcome: 'not-found' };

/**
 * The audit action of a change to `to`: one word whoever acts.
 *
 * @example
 * keyStatusAction('revoked'); // 'key-revoke'
 */
export function keyStatusAction(to: KeyStatus): AuditAction {
  return ACTION[to];
}

const ACTION: Readonly<Record<KeyStatus, AuditAction>> = {
  active: 'key-reinstate',
  revoked: 'key-revoke',
  suspended: 'key-suspend',
};

/** Sets a key's status, audits it and tells this process's cache; see `KeyStatusResult`. */
export async function changeKeyStatus(
  ctx: RecordsContext,
  change: KeyStatusChange,
): Promise<KeyStatusResult> {
  const id = normalizeKeyId(change.keyId);
  const key = id === undefined ? undefined : await ctx.store.getKey(id);
  if (key === undefined) return { outcome: 'not-found' };
  const until = change.to === 'suspended' ? change.until : undefined;
  const already = key.status === change.to && key.suspendedUntil === until;
  if (already || (key.status === 'revoked' && change.to === 'suspended')) {
    return { outcome: 'unchanged', key };
  }
  const next: ApiKeyRecord = {
    ...key,
    status: change.to,
    suspendedUntil: until,
    updatedAt: ctx.now,
    statusBy: change.actor,
    // The key keeps one line of why; with the incident's code first, support can look it up.
    reason:
      change.reference === undefined ? change.reason : `${change.reference}: ${change.reason}`,
  };
  await ctx.store.putKey(next);
  // Only once stored: the cache never shows a status the store does not hold.
  ctx.keyChanged?.(next);
  const action = keyStatusAction(change.to);
  await ctx.store.appendAudit({
    at: ctx.now,
    actor: change.actor,
    action,
    subject: { accountId: key.accountId, keyId: key.id },
    reason: change.reason,
    reference: change.reference,
  });
  return { outcome: 'changed', key: next, was: key, action };
}
