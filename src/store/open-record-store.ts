/**
 * The record store the policy's `store` asks for: with `store: memory` (the default) the
 * embedded SQLite database in the data directory, one per node; with `store.redis`, the
 * records in Redis, one set for every node and every `sluice keys …` run with that policy.
 *
 * A Redis record store has a connection of its own, so the limiter's fail-fast timeout
 * (`store.timeout`, 50 ms by default) does not bound a CLI listing or the first read of
 * every key: its commands wait up to `RECORDS_TIMEOUT_MS` or `store.timeout`, whichever
 * is longer. Records are never on a request's path but for bulk exports (one script).
 *
 * @example
 * const { store, where } = await openRecordStore(policy.store, policy.server.dataDir);
 * await store.findKeyByHash(hash);
 */
import { SluiceError } from '../core/errors.ts';
import { redisTarget } from '../core/policy/redis-target.ts';
import type { StoreSettings } from '../core/policy/types.ts';
import { openSqliteRecordStore } from './sqlite-record-store.ts';
import type { RecordStore } from './types.ts';

/** The shortest wait for one records command on Redis (ms). */
export const RECORDS_TIMEOUT_MS = 1000;

export interface OpenRecordStore {
  readonly store: RecordStore;
  /** Where the records are, for messages: the database file, or the Redis and prefix. */
  readonly where: string;
}

export async function openRecordStore(
  settings: StoreSettings,
  dataDir: string,
  options: { create?: boolean; connectWithinMs?: number } = {},
): Promise<OpenRecordStore> {
  if (settings.kind === 'memory') {
    const store = openSqliteRecordStore(dataDir, { create: options.create ?? true });
    return { store, where: store.file };
  }
  // Loaded only for Redis, as the limit store does (open-limit-store.ts).
  const [{ RedisLink }, { RedisRecordStore }] = await Promise.all([
    import('./redis-link.ts'),
    import('./redis-record-store.ts'),
  ]);
  const where = `${redisTarget(settings.redis)} (prefix ${settings.prefix})`;
  const link = new RedisLink(settings.redis, {
    timeoutMs: Math.max(settings.timeoutMs, RECORDS_TIMEOUT_MS),
  });
  const within = options.connectWithinMs ?? 5000;
  // Without its records a node knows no key: it refuses to start rather than refuse
  // every caller (a load balancer then sends them to the nodes that have Redis).
  if (!(await link.ready(within))) {
    link.close();
    throw new SluiceError(
      'SLUICE_ERR_STORE',
      `${where}: the records are in Redis (store.redis) and it did not answer within ${within / 1000} s`,
      { exitCode: 2 },
    );
  }
  return { store: new RedisRecordStore(link, settings.prefix, { closeLink: true, where }), where };
}
