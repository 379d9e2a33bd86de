/**
 * The safeguards' counts and offences in Redis, shared by every node on it: each
 * observation is one script (redis-tally-scripts.ts) in one round trip (auto-pipelined
 * with the rest), which counts it in the subject's sliding window and, reaching the
 * threshold, claims the offence atomically, so a flood spread over nodes is counted
 * whole and acted on once, by the node whose observation crossed.
 *
 * Redis not answering (the link down, or a call failing within `store.timeout`): the
 * insurance, a MemoryTally, counts this node's observations alone until the link's probe
 * finds Redis again (so a flood is then acted on per node). Nothing is copied between them.
 *
 * Keys: `<prefix>sc{<rule>:<subject>}` (counts) and `<prefix>so{<rule>:<subject>}`
 * (offences), each expiring when it no longer matters (the window; the history).
 *
 * @example
 * const safeguards = createSafeguards({ policy, clock, tally: new RedisTally(link, 'sluice:', new MemoryTally(caps)) });
 */
import type { MaybePromise } from '../core/maybe-async.ts';
import type {
  MemoryTally,
  SafeguardTally,
  TallyResult,
  TallyStep,
} from '../core/safeguard/tally.ts';
import type { SafeguardRuleName } from '../core/safeguard/types.ts';
import type { RedisLink } from './redis-link.ts';
import { TALLY_ADD_SCRIPT, TALLY_FORGIVE_SCRIPT } from './redis-tally-scripts.ts';

type Script<T> = (...args: (string | number)[]) => Promise<T>;
interface TallyClient {
  sluiceTallyAdd: Script<[number, number]>;
  sluiceTallyForgive: Script<number>;
}

const RULES: readonly SafeguardRuleName[] = [
  'afterAuthFailure',
  'ignoring429',
  'malformedStorm',
  'nonPublicAutomation',
];

export class RedisTally implements SafeguardTally {
  readonly #link: RedisLink;
  readonly #prefix: string;
  readonly #insurance: MemoryTally;
  readonly #client: TallyClient;
  readonly #onFallback: () => void;

  constructor(
    link: RedisLink,
    prefix: string,
    insurance: MemoryTally,
    options: { onFallback?: () => void } = {},
  ) {
    this.#link = link;
    this.#prefix = prefix;
    this.#insurance = insurance;
    this.#onFallback = options.onFallback ?? (() => {});
    const client = link.client;
    if (!('sluiceTallyAdd' in client)) {
      client.defineCommand('sluiceTallyAdd', { numberOfKeys: 2, lua: TALLY_ADD_SCRIPT });
      client.defineCommand('sluiceTallyForgive', { numberOfKeys: 2, lua: TALLY_FORGIVE_SCRIPT });
    }
    this.#client = client as unknown as TallyClient;
  }

  add(
    rule: SafeguardRuleName,
    subject: string,
    step: TallyStep,
  ): MaybePromise<TallyResult | undefined> {
    if (!this.#link.up) return this.#fallback(rule, subject, step);
    // The sliding count's own bucket arithmetic (sliding-count.ts newCount).
    const n = Math.max(1, Math.min(step.buckets, Math.floor(step.windowMs)));
    const bucketMs = Math.max(1, Math.floor(step.windowMs / n));
    const quiet = step.quietMs.length === 0 ? [0] : step.quietMs;
    let asked: Promise<[number, number]>;
    try {
      asked = this.#client.sluiceTallyAdd(
        ...this.#keys(rule, subject),
        step.now,
        step.windowMs,
        bucketMs,
        n,
        step.threshold,
        step.historyMs,
        ...quiet,
      );
    } catch (error) {
      this.#link.down(error);
      return this.#fallback(rule, subject, step);
    }
    return asked.then(
      ([total, offence]) => (total < 0 ? undefined : { total, offence }),
      (error: unknown) => {
        this.#link.down(error);
        return this.#fallback(rule, subject, step);
      },
    );
  }

  async forgive(subjects: readonly string[], offences: boolean): Promise<void> {
    this.#insurance.forgive(subjects, offences);
    if (!this.#link.up) return;
    try {
      await Promise.all(
        RULES.flatMap((rule) =>
          subjects.map((subject) =>
            this.#client.sluiceTallyForgive(...this.#keys(rule, subject), offences ? 1 : 0),
          ),
        ),
      );
    } catch (error) {
      this.#link.down(error);
    }
  }

  restart(rule: SafeguardRuleName): void {
    // Redis' counts restart on their own when the bucket size changes (field `ms`).
    this.#insurance.restart(rule);
  }

  /** Blocks decided without Redis only: the blocks every node serves are in the record store. */
  ipBlockedUntil(subject: string, now: number): number | undefined {
    return this.#insurance.ipBlockedUntil(subject, now);
  }

  size(): { subjects: number; offenders: number } {
    return this.#insurance.size();
  }

  #fallback(rule: SafeguardRuleName, subject: string, step: TallyStep): TallyResult | undefined {
    this.#onFallback();
    return this.#insurance.add(rule, subject, step);
  }

  #keys(rule: SafeguardRuleName, subject: string): [string, string] {
    const tag = `{${rule}:${subject}}`;
    return [`${this.#prefix}sc${tag}`, `${this.#prefix}so${tag}`];
  }
}
