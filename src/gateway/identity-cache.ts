/**
 * API keys and accounts as the hot path sees them: in memory, looked up by the key's
 * hash. Keys are revoked or created by other processes (`sluice keys …`, other nodes),
 * so the cache follows the store's change sequence on a timer; a revocation reaches a
 * running gateway within one poll interval and survives restarts because it lives in
 * the store, not here.
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

export async function createIdentityCache(
  store: RecordStore,
  options: { pollMs: number; onError?: (error: unknown) => void },
): Promise<IdentityCache> {
  const keys = new Map<string, ApiKeyRecord>();
  const accounts = new Map<string, Account>();
  let ipBlocks = new Map<string, IpBlock>();
  let seq = 0;

  async function loadAccounts() {
    accounts.clear();
    for (const a of await store.listAccounts()) accounts.set(a.id, a);
  }

  async function refresh() {
    const changes = await store.keyChangesSince(seq);
    if (changes.seq === seq) return;
    for (const k of changes.keys) keys.set(k.hash, k);
    seq = changes.seq;
    // Accounts and IP blocks change rarely; the same sequence tells when to reread them.
    await loadAccounts();
    ipBlocks = new Map((await store.listIpBlocks()).map((b) => [b.ip, b]));
  }

  await refresh();
  let polling = false;
  const timer = setInterval(() => {
    if (polling) return;
    polling = true;
    refresh()
      .catch((error) => options.onError?.(error))
      .finally(() => {
        polling = false;
      });
  }, options.pollMs);
  timer.unref();

  // A key created a moment ago (by the CLI, another node) is not in the cache until the
  // next poll; a miss asks the store once, and remembers a miss for one poll interval so
  // a flood of made-up keys costs a map lookup, not a database read each.
  const misses = new Map<string, number>();
  const MAX_MISSES = 10_000;
  function lookupMiss(hash: string): ApiKeyRecord | undefined {
    const now = performance.now();
    const missedAt = misses.get(hash);
    if (missedAt !== undefined && now - missedAt < options.pollMs) return undefined;
    const found = store.findKeyByHash(hash);
    if (!isAnswered(found)) {
      // A store that answers later: this request is a miss, the next one finds the key.
      found.then((k) => (k === undefined ? undefined : remember(k)), options.onError);
      return undefined;
    }
    if (found === undefined) {
      if (misses.size >= MAX_MISSES) misses.clear();
      misses.set(hash, now);
      return undefined;
    }
    return remember(found);
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

  return {
    byHash: (hash) => keys.get(hash) ?? lookupMiss(hash),
    account: (id) => accounts.get(id),
    putKey: (key) => keys.set(key.hash, key),
    ipBlock: (ip) => (ipBlocks.size === 0 ? undefined : ipBlocks.get(ip)),
    putIpBlock: (block) => ipBlocks.set(block.ip, block),
    refresh,
    close: () => clearInterval(timer),
  };
}
