/**
 * A limit store in Redis, shared by every node on the same Redis: each step is one Lua
 * script (redis-limit-scripts.ts) run atomically in one round trip, called by its SHA.
 * On one server the store sends the EVALSHA itself and the calls of one turn of the
 * event loop share a write (DirectScripts below); on a Cluster, ioredis `defineCommand` with
 * auto-pipelining routes each by slot. `now` is the caller's, so the pure maths and the
 * golden vectors hold unchanged.
 *
 * Keys: `<prefix>g{<key>}` (GCRA) and `<prefix>w{<key>}` (window): GCRA and window
 * state are apart, as in the memory store, and the braces are a Cluster hash tag, so
 * each subject's key lives on one slot whatever the prefix. `windowThenGcra`, one
 * decision's IP window and account budget together, is one script on one server; on a
 * Cluster the IP's and the account's keys are on different slots in general (no tag
 * can put every pair together short of one slot for all), so there it is the two
 * scripts one after the other: each atomic, the budget asked only when the IP passed.
 *
 * Every key expires when its state would be none (see the scripts), so idle state
 * leaves Redis on its own; the TTL is in Redis' time, the state in the caller's.
 *
 * With a lease taker (takeLeasesWith: the node's RedisLeaseQueues), a decision asked
 * with the account's slot also takes one of its concurrency leases when it allows the
 * request at once, in the same script (`<prefix>c{acct:<id>}` shares the budget key's
 * tag, so on a Cluster the budget's script takes it), and on one server frees the leases
 * the node released since: a request that runs at once costs one round trip in all.
 *
 * @example
 * const store = new RedisLimitStore(new RedisLink({ url }, { timeoutMs: 50 }), 'sluice:');
 * await store.gcra('acct:acme', Date.now(), 1, params);
 */

import { createHash } from 'node:crypto';
import { Command, type Redis } from 'ioredis';
import type {
  GcraParams,
  GcraResult,
  LimitStore,
  SlotAsk,
  WindowParams,
  WindowResult,
  WindowThenGcraResult,
} from '../core/limiter/types.ts';
import { type LeaseTaker, leaseKey } from './redis-leases.ts';
import {
  GCRA_LEASE_SCRIPT,
  GCRA_SCRIPT,
  WINDOW_GCRA_LEASE_SCRIPT,
  WINDOW_SCRIPT,
  WINDOW_THEN_GCRA_SCRIPT,
} from './redis-limit-scripts.ts';
import type { RedisLink } from './redis-link.ts';

/** A script's answer: integers as numbers, fractions as %.17g text (redis-limit-scripts.ts). */
type Reply = readonly (number | string)[];
type Script = (...args: (string | number)[]) => Promise<Reply>;
interface ScriptedClient {
  sluiceGcra: Script;
  sluiceWindow: Script;
  sluiceWindowThenGcra: Script;
  sluiceGcraLease: Script;
  sluiceWindowGcraLease: Script;
}

/** A number as the scripts read it (`inf` for an infinite interval); ioredis writes the rest. */
const arg = (n: number): string | number => (n === Number.POSITIVE_INFINITY ? 'inf' : n);

/** The arguments of a window-then-GCRA decision, in the order its scripts read them. */
const decisionArgs = (now: number, w: WindowParams, cost: number, g: GcraParams) => [
  arg(now),
  1,
  arg(w.periodMs),
  arg(w.warn),
  arg(w.block),
  arg(cost),
  arg(g.emissionMs),
  arg(g.burst),
  arg(g.maxDelayMs),
];

export class RedisLimitStore implements LimitStore {
  readonly link: RedisLink;
  readonly prefix: string;
  readonly #scripts: ScriptedClient;
  readonly #closeLink: boolean;
  readonly #direct = new DirectScripts();
  #leases: LeaseTaker | undefined;

  /** `closeLink`: `close()` also closes the link (a store that owns its connection). */
  constructor(link: RedisLink, prefix: string, options: { closeLink?: boolean } = {}) {
    this.link = link;
    this.prefix = prefix;
    this.#closeLink = options.closeLink ?? false;
    const client = link.client;
    // defineCommand is idempotent per name: a second store on the link reuses the scripts.
    if (!('sluiceGcra' in client)) {
      for (const s of [GCRA, WINDOW, WINDOW_THEN_GCRA, GCRA_LEASE, WINDOW_GCRA_LEASE]) {
        client.defineCommand(s.name, { numberOfKeys: s.keys, lua: s.lua });
      }
    }
    this.#scripts = client as unknown as ScriptedClient;
  }

  /**
   * From now on a decision asked with a `slot` takes the account's concurrency lease in
   * its own script when it is allowed at once, and hands it to `leases`
   * (RedisLeaseQueues), where the request finds it when it asks for its slot.
   */
  takeLeasesWith(leases: LeaseTaker): void {
    this.#leases = leases;
  }

  async gcra(key: string, now: number, cost: number, params: GcraParams): Promise<GcraResult> {
    const { emissionMs, burst, maxDelayMs } = params;
    const out = await this.#run(
      GCRA,
      this.#gcraKey(key),
      arg(now),
      arg(cost),
      arg(emissionMs),
      arg(burst),
      arg(maxDelayMs),
    );
    return gcraResult(out, 0);
  }

  async window(
    key: string,
    now: number,
    cost: number,
    params: WindowParams,
  ): Promise<WindowResult> {
    const out = await this.#run(
      WINDOW,
      this.#windowKey(key),
      arg(now),
      arg(cost),
      arg(params.periodMs),
      arg(params.warn),
      arg(params.block),
    );
    return windowResult(out);
  }

  /**
   * The same as `window(windowKey, now, 1, w)` then, if allowed, `gcra(gcraKey, now,
   * cost, g)`: one script and one round trip on a server. With `slot` (and a lease
   * taker, takeLeasesWith) the same script takes the account's lease too.
   */
  async windowThenGcra(
    windowKey: string,
    w: WindowParams,
    gcraKey: string,
    cost: number,
    g: GcraParams,
    now: number,
    slot?: SlotAsk,
  ): Promise<WindowThenGcraResult> {
    const leases = this.#leases;
    if (slot !== undefined && leases !== undefined && Number.isFinite(slot.limit)) {
      const member = leases.offer(slot.account);
      if (member !== undefined) {
        return this.#withLease(windowKey, w, gcraKey, cost, g, now, slot, leases, member);
      }
    }
    if (this.link.isCluster) {
      const window = await this.window(windowKey, now, 1, w);
      const gcra = window.allowed ? await this.gcra(gcraKey, now, cost, g) : undefined;
      return { window, gcra };
    }
    const out = await this.#run(
      WINDOW_THEN_GCRA,
      this.#windowKey(windowKey),
      this.#gcraKey(gcraKey),
      ...decisionArgs(now, w, cost, g),
    );
    return { window: windowResult(out), gcra: out.length > 7 ? gcraResult(out, 7) : undefined };
  }

  /** windowThenGcra taking `member`, one of the account's leases, when allowed at once. */
  async #withLease(
    windowKey: string,
    w: WindowParams,
    gcraKey: string,
    cost: number,
    g: GcraParams,
    now: number,
    slot: SlotAsk,
    leases: LeaseTaker,
    member: string,
  ): Promise<WindowThenGcraResult> {
    const lease = [leaseKey(this.prefix, slot.account), leases.leaseMs, slot.limit, member];
    let window: WindowResult;
    let gcra: GcraResult | undefined;
    let leased = -1;
    let frees: readonly (readonly [string, string])[] = [];
    try {
      if (this.link.isCluster) {
        // The IP's window is on another slot; the budget and the lease share one.
        window = await this.window(windowKey, now, 1, w);
        if (!window.allowed) return { window, gcra: undefined };
        const out = await this.#run(
          GCRA_LEASE,
          this.#gcraKey(gcraKey),
          lease[0]!,
          arg(now),
          arg(cost),
          arg(g.emissionMs),
          arg(g.burst),
          arg(g.maxDelayMs),
          ...lease.slice(1),
        );
        gcra = gcraResult(out, 0);
        leased = Number(out[5]);
      } else {
        frees = leases.frees(MAX_FREES);
        const keys = [this.#windowKey(windowKey), this.#gcraKey(gcraKey), lease[0]!];
        for (const [account] of frees) keys.push(leaseKey(this.prefix, account));
        const out = await this.#direct.call(
          this.link.client as Redis,
          WINDOW_GCRA_LEASE,
          [
            ...keys,
            ...decisionArgs(now, w, cost, g),
            ...lease.slice(1),
            ...frees.map(([, m]) => m),
          ],
          keys.length,
        );
        window = windowResult(out);
        if (out.length > 7) {
          gcra = gcraResult(out, 7);
          leased = Number(out[12]);
        }
      }
    } catch (error) {
      // A call that timed out may still run once Redis wakes up: the lease is to be freed,
      // and so are those it was to free.
      leases.failed(slot.account, member);
      for (const [account, freed] of frees) leases.failed(account, freed);
      throw error;
    }
    if (leased === 1) leases.granted(slot.account, member);
    else if (leased === 0) leases.full(slot.account);
    return { window, gcra };
  }

  /** Keys under this store's prefix (a SCAN of every server: for tests and tools, not the hot path). */
  async size(): Promise<number> {
    const client = this.link.client;
    const servers = 'nodes' in client ? client.nodes('master') : [client];
    let n = 0;
    for (const server of servers) {
      let cursor = '0';
      do {
        const [next, keys] = await server.scan(
          cursor,
          'MATCH',
          `${this.#escaped()}*`,
          'COUNT',
          1000,
        );
        cursor = next;
        n += keys.length;
      } while (cursor !== '0');
    }
    return n;
  }

  close(): void {
    if (this.#closeLink) this.link.close();
  }

  /** One script: sent directly on a server; on a Cluster, by ioredis (which routes it by slot). */
  #run(script: LoadedScript, ...args: (string | number)[]): Promise<Reply> {
    if (!this.link.isCluster) return this.#direct.call(this.link.client as Redis, script, args);
    return this.#scripts[script.name](...args);
  }

  #gcraKey(key: string): string {
    return `${this.prefix}g{${key}}`;
  }

  #windowKey(key: string): string {
    return `${this.prefix}w{${key}}`;
  }

  /** The prefix as a SCAN pattern (glob characters escaped). */
  #escaped(): string {
    return this.prefix.replace(/[*?[\]\\]/g, '\\$&');
  }
}

function gcraResult(out: Reply, at: number): GcraResult {
  return {
    allowed: out[at] === 1,
    delayMs: Number(out[at + 1]),
    retryAfterMs: Number(out[at + 2]),
    remaining: Number(out[at + 3]),
    resetMs: Number(out[at + 4]),
  };
}

function windowResult(out: Reply): WindowResult {
  return {
    allowed: out[0] === 1,
    count: Number(out[1]),
    warn: out[2] === 1,
    warnFirst: out[3] === 1,
    retryAfterMs: Number(out[4]),
    remaining: Number(out[5]),
    resetMs: Number(out[6]),
  };
}

interface LoadedScript {
  readonly name: keyof ScriptedClient;
  readonly lua: string;
  readonly sha: string;
  readonly keys: number;
}
const loaded = (name: keyof ScriptedClient, lua: string, keys: number): LoadedScript => ({
  name,
  lua,
  sha: createHash('sha1').update(lua).digest('hex'),
  keys,
});
const GCRA = loaded('sluiceGcra', GCRA_SCRIPT, 1);
const WINDOW = loaded('sluiceWindow', WINDOW_SCRIPT, 1);
const WINDOW_THEN_GCRA = loaded('sluiceWindowThenGcra', WINDOW_THEN_GCRA_SCRIPT, 2);
const GCRA_LEASE = loaded('sluiceGcraLease', GCRA_LEASE_SCRIPT, 2);
const WINDOW_GCRA_LEASE = loaded('sluiceWindowGcraLease', WINDOW_GCRA_LEASE_SCRIPT, 3);
/** Leases freed since the last decision that one decision's script frees at most. */
const MAX_FREES = 32;

/**
 * The hot path on one server, past ioredis' script and auto-pipeline layers (a Pipeline,
 * three promises and closures per call, a third of the CPU in GC): an EVALSHA Command
 * sent as is, the socket corked until `setImmediate`, so the decisions of every request
 * read in one turn of the event loop leave in one write, as ioredis' auto-pipelining
 * does. (Uncorked at `nextTick`, each request went out in a write of its own: the
 * gateway reads each connection in a callback of its own.) A NOSCRIPT (a restarted
 * Redis) is answered by sending the script once with EVAL, which loads it again.
 */
class DirectScripts {
  #corked: Redis['stream'] | undefined;
  readonly #uncork = () => {
    const stream = this.#corked;
    this.#corked = undefined;
    stream?.uncork();
  };

  call(
    client: Redis,
    script: LoadedScript,
    args: (string | number)[],
    keys = script.keys,
  ): Promise<Reply> {
    const stream = client.stream;
    if (this.#corked === undefined && stream !== undefined && client.status === 'ready') {
      stream.cork();
      this.#corked = stream;
      setImmediate(this.#uncork);
    }
    const command = new Command('evalsha', [script.sha, keys, ...args], {
      replyEncoding: 'utf8',
    });
    client.sendCommand(command);
    return (command.promise as Promise<Reply>).catch((error: unknown) => {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return client.eval(script.lua, keys, ...args) as Promise<Reply>;
    });
  }
}
