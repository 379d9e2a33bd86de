/**
 * Lifting an IP block, the same from the CLI and from the admin API: find the block by
 * the address it names, delete it, and write the audit entry that links the lift to the
 * incident that caused the block.
 *
 * @example
 *   const lifted = await liftIpBlock(store, '203.0.113.9', { at: now, actor: 'cli:alice', reason: 'ticket 9' });
 *   if (lifted === undefined) console.log('not blocked');
 */
import type { IpBlock } from '../core/records.ts';
import type { RecordStore } from '../store/types.ts';
import { canonicalIp } from './client-ip.ts';

/**
 * The block that names `ip` (canonical), also when it was written in another spelling
 * (an address taken from a forwarding header as sent).
 */
export function findIpBlock<T extends { ip: string }>(
  blocks: readonly T[],
  ip: string,
): T | undefined {
  return blocks.find((b) => b.ip === ip) ?? blocks.find((b) => canonicalIp(b.ip) === ip);
}

/** Lifts the block of `ip` (canonical) and audits it; the lifted block, or undefined. */
export async function liftIpBlock(
  store: Pick<RecordStore, 'listIpBlocks' | 'deleteIpBlock' | 'appendAudit'>,
  ip: string,
  audit: { at: number; actor: string; reason: string },
): Promise<IpBlock | undefined> {
  const old = findIpBlock(await store.listIpBlocks(), ip);
  // Read and delete are two steps: a block lifted in between is reported as not blocked.
  if (old === undefined || !(await store.deleteIpBlock(old.ip))) return undefined;
  await store.appendAudit({
    ...audit,
    action: 'unblock-ip',
    subject: { ip },
    // The incident that caused the block, so the trail links the lift to it.
    reference: old.reference,
  });
  return old;
}
