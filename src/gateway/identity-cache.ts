/**
 * API keys and accounts as the hot path sees them: in memory, looked up by the key's
 * hash. Keys are revoked or created by other processes (`sluice keys …`, other nodes),
 * so the cache follows the store's change sequence on a timer; a revocation reaches a
 * running gateway within one poll interval and survives restarts because it lives in
 * the store, not here.
 */
import type { Account, ApiKeyRecord, RecordStore } from '../store/types.ts';

export interface IdentityCache {
  byHash(hash: string): ApiKeyRecord | undefined;
  account(id: string): Account | undefined;
  /** Applies a change made by this process at once (no wait for the poll). */
  putKey(key: ApiKeyRecord): void;
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
    // Account size and plan change rarely; the same sequence tells when to reread them.
    await loadAccounts();
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

  return {
    byHash: (hash) => keys.get(hash),
    account: (id) => accounts.get(id),
    putKey: (key) => keys.set(key.hash, key),
    refresh,
    close: () => clearInterval(timer),
  };
}
