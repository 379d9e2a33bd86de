/**
 * Per-account concurrency leases in Redis: the slots one account holds across every
 * node on the same Redis. Each call is one script (redis-lease-scripts.ts) in one round
 * trip, with the caller's time passed in. What a node does with them (its local queue,
 * renewal, falling back when Redis fails) is redis-lease-queues.ts.
 *
 * Key: `<prefix>c{acct:<account>}`: the braces are a Cluster hash tag, the same as the
 * account's GCRA key's (`<prefix>g{acct:<account>}`), so the admission script can take a
 * lease with its decision on a Cluster too (both keys on one slot).
 *
 * @example
 * const leases = new RedisLeases(link, 'sluice:');
 * await leases.take('acme', now, 10_000, 2, ['n1:1']); // 1: n1:1 holds one of acme's 2 slots
 * await leases.release('acme', 'n1:1');
 */
import { Command, type Redis } from 'ioredis';
import {
  LEASE_COUNT_SCRIPT,
  LEASE_RENEW_SCRIPT,
  LEASE_TAKE_SCRIPT,
} from './redis-lease-scripts.ts';
import type { RedisLink } from './redis-link.ts';

type Script = (...args: (string | number)[]) => Promise<number>;
interface LeaseClient {
  sluiceLeaseTake: Script;
  sluiceLeaseRenew: Script;
  sluiceLeaseCount: Script;
  zrem(key: string, ...members: string[]): Promise<number>;
}

/**
 * What the limit store's admission script needs to take a lease with a decision
 * (RedisLimitStore.windowThenGcra): RedisLeaseQueues, which then hands the lease to the
 * request when it asks for its slot.
 *
 * @example
 * const member = taker.offer('acme'); // then, with the script's answer:
 * if (member !== undefined) taker.granted('acme', member);
 */
export interface LeaseTaker {
  /** How long a lease lasts unless renewed (ms). */
  readonly leaseMs: number;
  /** A fresh lease name to take, or undefined: take none now (requests of it wait here, Redis is down). */
  offer(accountId: string): string | undefined;
  /** The script took `member` for the account. */
  granted(accountId: string, member: string): void;
  /** The script found every slot of the account taken. */
  full(accountId: string): void;
  /** The call failed: `member` may have been taken all the same, and is to be freed. */
  failed(accountId: string, member: string): void;
  /** Up to `max` leases waiting to be freed, [account, member], for the script to free. */
  frees(max: number): readonly (readonly [string, string])[];
}

/** An account's lease set. */
export const leaseKey = (prefix: string, account: string): string => `${prefix}c{acct:${account}}`;

export class RedisLeases {
  readonly link: RedisLink;
  readonly #prefix: string;
  readonly #client: LeaseClient;

  constructor(link: RedisLink, prefix: string) {
    this.link = link;
    this.#prefix = prefix;
    const client = link.client;
    // defineCommand per name once: another user of the link reuses the scripts.
    if (!('sluiceLeaseTake' in client)) {
      client.defineCommand('sluiceLeaseTake', { numberOfKeys: 1, lua: LEASE_TAKE_SCRIPT });
      client.defineCommand('sluiceLeaseRenew', { numberOfKeys: 1, lua: LEASE_RENEW_SCRIPT });
      client.defineCommand('sluiceLeaseCount', { numberOfKeys: 1, lua: LEASE_COUNT_SCRIPT });
    }
    this.#client = client as unknown as LeaseClient;
  }

  /** Grants the first of `members` while fewer than `limit` leases run; resolves to how many. */
  take(
    account: string,
    now: number,
    ttlMs: number,
    limit: number,
    members: readonly string[],
  ): Promise<number> {
    return this.#client.sluiceLeaseTake(this.#key(account), now, ttlMs, limit, ...members);
  }

  /** Pushes the expiry of `members` to `now + ttlMs` (adding back any Redis lost). */
  renew(account: string, now: number, ttlMs: number, members: readonly string[]): Promise<number> {
    return this.#client.sluiceLeaseRenew(this.#key(account), now, ttlMs, ...members);
  }

  /** Frees leases (their requests ended). */
  release(account: string, ...members: string[]): Promise<number> {
    return this.#client.zrem(this.#key(account), ...members);
  }

  /**
   * Frees the leases of several accounts, not waited for: one ZREM per account, in one
   * write on a server (raw commands, past ioredis' auto-pipeline and its per-call
   * promises); `onFailed` gets the account and members of a ZREM that failed.
   */
  releaseAll(
    frees: ReadonlyMap<string, readonly string[]>,
    onFailed: (account: string, members: readonly string[]) => void,
  ): void {
    const client = this.link.client;
    const stream = this.link.isCluster ? undefined : (client as Redis).stream;
    const direct = stream !== undefined && client.status === 'ready';
    if (direct) stream.cork();
    for (const [account, members] of frees) {
      let sent: Promise<unknown>;
      if (direct) {
        const command = new Command('zrem', [this.#key(account), ...members]);
        (client as Redis).sendCommand(command);
        sent = command.promise;
      } else sent = this.release(account, ...members);
      sent.catch(() => onFailed(account, members));
    }
    if (direct) stream.uncork();
  }

  /** Leases of `account` unexpired at `now`, over every node. */
  count(account: string, now: number): Promise<number> {
    return this.#client.sluiceLeaseCount(this.#key(account), now);
  }

  #key(account: string): string {
    return leaseKey(this.#prefix, account);
  }
}
