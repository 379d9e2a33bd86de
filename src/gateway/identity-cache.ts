/**
 * API keys and accounts as the hot path sees them: in memory, looked up by the key's
 * hash. Keys are revoked or created by other processes (`sluice keys …`, other nodes),
 * so the cache follows the store's change sequence on a timer; a revocation reaches a
 * running gateway within one poll interval and survives restarts because it lives in
 * the store, not here. Each poll reads only the rows changed since the last one
 * (`RecordStore.changesSince`): a revocation costs one row, however many accounts, keys
 * and blocks the store holds, so no poll stalls the event loop with a full reread.
 *
 * An unknown key costs no more than a map lookup in a flood: the cache holds every key
 * as of its last poll, so a hash it does not know is made up, or was created in the last
 * poll interval. It asks the store about such hashes at most `MISS_READS_PER_POLL` times
 * per poll interval (so a key just made with `sluice keys create` works at its first
 * request), remembers the last `MAX_MISSES` hashes it found unknown, and once the reads
 * are spent answers from memory alone until the next poll, which brings any new key.
 *
 * A store that tells of changes (`RecordStore.watch`: Redis pub/sub) makes the cache poll
 * at once: a revocation on another node arrives in milliseconds, and the timer stays the
 * reconcile for a nudge lost while the store was unreachable.
 */
import { isAnswered, whenReady } from '../core/maybe-async.ts';
import type { Account, ApiKeyRecord, IpBlock } from '../core/records.ts';
import type { RecordStore } from '../store/types.ts';

export interface IdentityCache {
  byHash(hash: string): ApiKeyRecord | undefined;
  account(id: string): Account | undefined;
  /** Applies a change made by this process at once (no wait for the poll). */
  putKey(key: ApiKeyRecord): void;
  /** The block of an IP address (it may have expired: compare `until` with now). */
  ipBlock(ip: string): IpBlock | undefined;
  putIpBlock(block: IpBlock): void;
  /** Reads changes from the store now. */
  refresh(): Promise<void>;
  close(): void;
}

/**
 * Store reads for hashes the cache does not know, per poll interval (1 s by default):
 * enough for keys created since the last poll to work at once, a bounded cost in a flood.
 */
export const MISS_READS_PER_POLL = 100;
/** Unknown hashes remembered (about 1 MB), so a repeated made-up key reads nothing. */
export const MAX_MISSES = 10_000;
/** How often the cache looks for IP blocks that ended, to forget them. */
export const SWEEP_MS = 60_000;

/**
 * Loads every key, account and IP block, then follows the store's changes.
 *
 * @example
 *   const identities = await createIdentityCache(store, { pollMs: 1000 });
 *   identities.byHash(hashApiKey(secret)); // the key, or undefined: unknown
 */
export async function createIdentityCache(
  store: RecordStore,
  options: {
    pollMs: number;
    onError?: (error: unknown) => void;
    /** The gateway's clock: blocks that ended before it are forgotten at a poll. */
    now?: () => number;
  },
): Promise<IdentityCache> {
  const keys = new Map<string, ApiKeyRecord>();
  const accounts = new Map<string, Account>();
  const ipBlocks = new Map<string, IpBlock>();
  const now = options.now ?? Date.now;
  let seq = 0;

  async function refresh() {
    // A poll brings every key created before it: the misses since are worth a look again.
    readsLeft = MISS_READS_PER_POLL;
    const changes = await store.changesSince(seq);
    dropEndedBlocks();
    if (changes.seq === seq) return;
    for (const k of changes.keys) keys.set(k.hash, k);
    for (const a of changes.accounts) accounts.set(a.id, a);
    for (const b of changes.ipBlocks) ipBlocks.set(b.ip, b);
    for (const ip of changes.liftedIps) ipBlocks.delete(ip);
    seq = changes.seq;
  }

  // Pruning an ended block in the store reports no change (it blocks nothing already):
  // the cache forgets ended blocks itself, so it holds no more than the store. A scan of
  // every block held (a botnet may leave 100,000): at most once per `SWEEP_MS`, so the
  // polls in between cost the loop nothing; an ended block held meanwhile refuses nothing.
  let nextSweep = 0;
  function dropEndedBlocks(): void {
    if (ipBlocks.size === 0) return;
    const at = now();
    if (at < nextSweep) return;
    nextSweep = at + SWEEP_MS;
    for (const [ip, block] of ipBlocks) {
      if (block.until !== undefined && block.until < at) ipBlocks.delete(ip);
    }
  }

  // Misses: a hash the cache does not know is looked up in the store (it may be a key
  // created since the last poll), but only so many times per poll interval: past that, a
  // flood of made-up keys costs a map lookup each, never a database read, and a key
  // created meanwhile works from the next poll on. Unknown hashes are remembered (the
  // oldest forgotten first) so a repeated one reads nothing. No expiry is needed: a key
  // created after it was remembered is found in `keys` once the poll brings it.
  let readsLeft = MISS_READS_PER_POLL;
  const misses = new Set<string>();
  function lookupMiss(hash: string): ApiKeyRecord | undefined {
    if (readsLeft === 0 || misses.has(hash)) return undefined;
    readsLeft--;
    const found = store.findKeyByHash(hash);
    if (!isAnswered(found)) {
      // A store that answers later: this request is a miss, the next one finds the key.
      found.then((k) => (k === undefined ? rememberMiss(hash) : remember(k)), options.onError);
      return undefined;
    }
    if (found === undefined) {
      rememberMiss(hash);
      return undefined;
    }
    return remember(found);
  }
  function rememberMiss(hash: string): void {
    if (misses.size >= MAX_MISSES) misses.delete(misses.values().next().value as string);
    misses.add(hash);
  }
  function remember(key: ApiKeyRecord): ApiKeyRecord {
    keys.set(key.hash, key);
    if (!accounts.has(key.accountId)) {
      void whenReady(
        store.getAccount(key.accountId),
        (a) => {
          if (a !== undefined) accounts.set(a.id, a);
        },
        options.onError,
      );
    }
    return key;
  }

  await refresh();
  // One poll at a time; a nudge during a poll runs one more after it, since the change
  // it tells of may have landed after the poll's read.
  let polling = false;
  let again = false;
  function poll(): void {
    if (polling) {
      again = true;
      return;
    }
    polling = true;
    refresh()
      .catch((error) => options.onError?.(error))
      .finally(() => {
        polling = false;
        if (again) {
          again = false;
          poll();
        }
      });
  }
  const timer = setInterval(poll, options.pollMs);
  timer.unref();
  const unwatch = store.watch?.(poll) ?? (() => {});

  return {
    byHash: (hash) => keys.get(hash) ?? lookupMiss(hash),
    account: (id) => accounts.get(id),
    putKey: (key) => keys.set(key.hash, key),
    ipBlock: (ip) => (ipBlocks.size === 0 ? undefined : ipBlocks.get(ip)),
    putIpBlock: (block) => ipBlocks.set(block.ip, block),
    refresh,
    close: () => {
      clearInterval(timer);
      unwatch();
    },
  };
}
