/**
 * Lifting an IP block, the same from the CLI and from the admin API: find the block by
 * the address it names, delete it, write the audit entry that links the lift to the
 * incident that caused the block, and let this process's cache reread its blocks.
 *
 * @example
 *   const lifted = await liftIpBlock({ store, now }, { ip: '203.0.113.9', actor: 'cli:alice', reason: 'ticket 9' });
 *   if (lifted === undefined) console.log('not blocked');
 */
import type { Actor, IpBlock } from '../core/records.ts';
import { canonicalIp } from '../gateway/client-ip.ts';
import type { RecordsContext } from './context.ts';

/**
 * The block that names `ip` (canonical), also when it was written in another spelling
 * (an address taken from a forwarding header as sent).
 *
 * @example
 * findIpBlock(blocks, '2001:db8::1'); // also finds a block stored as '2001:0DB8::0001'
 */
export function findIpBlock<T extends { ip: string }>(
  blocks: readonly T[],
  ip: string,
): T | undefined {
  return blocks.find((b) => b.ip === ip) ?? blocks.find((b) => canonicalIp(b.ip) === ip);
}

/** Lifts the block of `ip` (canonical) and audits it; the lifted block, or undefined. */
export async function liftIpBlock(
  ctx: RecordsContext,
  lift: { readonly ip: string; readonly actor: Actor; readonly reason: string },
): Promise<IpBlock | undefined> {
  const { store } = ctx;
  const old = findIpBlock(await store.listIpBlocks(), lift.ip);
  // Read and delete are two steps: a block lifted in between is reported as not blocked.
  if (old === undefined || !(await store.deleteIpBlock(old.ip))) return undefined;
  await store.appendAudit({
    at: ctx.now,
    actor: lift.actor,
    action: 'unblock-ip',
    subject: { ip: lift.ip },
    reason: lift.reason,
    // The incident that caused the block, so the trail links the lift to it.
    reference: old.reference,
  });
  // The delete moved the change sequence: this node rereads its blocks now.
  await ctx.ipBlocksChanged?.();
  return old;
}
