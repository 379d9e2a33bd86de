/**
 * The bulk-export allowance as a sliding log: `limit` exports per `periodMs`. Given the
 * exports still in the window (oldest first), says whether one more is allowed and, if
 * not, when it will be. Every record store decides with this one function; each keeps
 * the log its own way (a list in memory, rows in SQLite).
 *
 * @example
 * bulkVerdict([1_000], 1, 30 * 86_400_000);
 * // { allowed: false, used: 1, nextAllowedAt: 1_000 + 30 days }
 */
import type { BulkExportVerdict } from '../records.ts';

export function bulkVerdict(
  countedOldestFirst: readonly number[],
  limit: number,
  periodMs: number,
): BulkExportVerdict {
  const used = countedOldestFirst.length;
  if (used < limit) return { allowed: true, used, nextAllowedAt: undefined };
  // The next export fits once `used - limit + 1` of them have left the window.
  const oldestToLeave = countedOldestFirst[used - Math.ceil(limit)];
  return {
    allowed: false,
    used,
    nextAllowedAt: oldestToLeave === undefined ? undefined : oldestToLeave + periodMs,
  };
}
