/**
 * The facts each rule records with its incident (the stored `counters`), one type per
 * rule. The code that decides (engine, route limits, the request stages, the safeguard
 * enforcer) builds them with these types and the explanation (words/explain.ts) reads
 * them by the same types, so a name or a value one side writes and the other does not
 * read cannot compile: that is how `dryRun: 'yes'` was once written and `'true'` read.
 *
 * They are type aliases, not interfaces, so each is also a plain `Counters` record,
 * which is what the stores keep (as JSON) and older rows come back as.
 *
 * @example
 * const facts: FactsOf<'ip-concurrency'> = { ipHeld: 32, ipConcurrency: 32 };
 * incidents.record('ip-concurrency', subject, facts);
 */
// Imports nothing of the rules' own modules (decision.ts builds denials with these
// types): the rule set is FactsByRule's keys, checked against RULES in explain.ts.
import type { SafeguardAction } from './policy/types.ts';

/** An incident's facts as stored and read back: names to numbers or words. */
export type Counters = Readonly<Record<string, number | string>>;

/** How a safeguard action's dry run is stored: words, as counters hold no booleans. */
export type DryRunFlag = 'yes' | 'no';

/** What a limit in shadow mode would have done to the request (it did neither). */
export type ShadowOutcome = 'delay' | 'refuse';

/**
 * Added to the facts of an incident recorded in shadow mode: the same `dryRun` flag a
 * safeguard's dry run carries (the meaning is the same: decided and recorded, not done),
 * and what would have happened. A would-be delay is an incident of the rule that would
 * have slowed the request (`account-rate` or `route-rate`), with its `delayMs`.
 */
export type ShadowFacts = {
  dryRun: DryRunFlag;
  would: ShadowOutcome;
  delayMs?: number;
};

/**
 * What a stored incident says shadow mode would have done; undefined for an incident of
 * a limit that acted (or a safeguard's action, whose `action` says what it would do).
 *
 * @example
 * shadowOutcome({ dryRun: 'yes', would: 'delay', delayMs: 1200 }); // 'delay'
 */
export function shadowOutcome(counters: Counters): ShadowOutcome | undefined {
  const would = counters.would;
  if (!wasDryRun(counters.dryRun as DryRunFlag | undefined)) return undefined;
  return would === 'delay' || would === 'refuse' ? would : undefined;
}

/** The account's budget at the time, written by the engine for its account rules. */
export type AccountBudgetFacts = {
  account: string;
  plan: string;
  size: number;
  /** Requests per `periodSec`, rounded to 2 decimals. */
  rate: number;
  periodSec: number;
  burst: number;
  cost: number;
};

/** The account's concurrency and queue when a request could not wait in it. */
export type QueueFacts = {
  inflight: number;
  queued: number;
  concurrency: number;
  queue: number;
  queueTimeoutMs?: number;
};

/** What a safeguard rule saw when it decided to act (written by the observer). */
export type SafeguardObservedFacts = {
  observations: number;
  threshold: number;
  windowMs: number;
  offence: number;
  /** How long the block or suspension lasts; absent for a revocation. */
  durationMs?: number;
};

/** What a safeguard saw and did; `dryRun` says whether it only recorded it. */
export type SafeguardFacts = SafeguardObservedFacts & {
  action: SafeguardAction;
  dryRun: DryRunFlag;
  /** When the block or suspension ends, ISO 8601. */
  until?: string;
};

/** What each rule records. Optional names are read when present (older rows, other writers). */
export type FactsByRule = {
  'ip-block': { ipRequests: number; ipBlock: number; ipWarn: number; windowSec?: number };
  'account-rate': AccountBudgetFacts & { maxDelayMs: number; delayMs?: number };
  'account-slowed': AccountBudgetFacts & { slowed: number; maxSlowed: number };
  'account-queue': QueueFacts;
  'account-queue-timeout': QueueFacts;
  'route-rate': {
    route: string;
    account: string;
    routeRate: number;
    periodSec: number;
    /** Set for a batch route (a full listing): the explanation says it is batch work. */
    routeClass?: 'batch';
    /** The filter whose absence made the request a full listing, e.g. `modifiedAfter`. */
    incremental?: string;
  };
  'bulk-export': {
    dataset: string;
    allowed?: number;
    periodMs?: number;
    exports?: number;
    nextAllowedAt?: string;
    /** The policy's incremental-sync filter (e.g. `modifiedAfter`), suggested instead. */
    incremental?: string;
    /** `unavailable` when the export ledger could not be asked. */
    ledger?: 'unavailable';
  };
  'batch-window': { route: string; windows: string; nextWindow: string };
  'non-public': { route: string; path: string };
  /** `by`: who changed the key's status, as the key stores it (`sluice`, `cli:<user>`, `admin:<name>`). */
  'key-revoked': { keyStatus: 'revoked'; reason: string; by?: string };
  'key-suspended': {
    keyStatus: 'suspended';
    reason: string;
    suspendedUntil?: string;
    by?: string;
  };
  'key-unknown': Record<never, never>;
  'key-missing': Record<never, never>;
  'ip-blocked': {
    reason: string;
    blockedUntil: string;
    /** Who blocked it, as the block stores it: `sluice` (a safeguard), `cli:<user>`, `admin:<name>`. */
    by?: string;
    /** The key whose behaviour earned the block (it then spares other accounts' keys). */
    earnedByKey?: string;
  };
  'ip-concurrency': { ipHeld: number; ipConcurrency: number };
  'unauthenticated-concurrency': { keylessHeld: number; unauthenticatedConcurrency: number };
  'safeguard-auth-failure': SafeguardFacts;
  'safeguard-ignoring-429': SafeguardFacts;
  'safeguard-malformed-storm': SafeguardFacts;
  'safeguard-non-public': SafeguardFacts;
};

/** Every rule an incident can be about (`RuleId | SafeguardRuleId`). */
export type IncidentRule = keyof FactsByRule;

/** The facts of one rule. */
export type FactsOf<R extends IncidentRule> = FactsByRule[R];

/**
 * A rule with its facts, as one value: the rule picks the type of the facts.
 *
 * @example
 * const f: RuleFacts<'ip-concurrency'> = { rule: 'ip-concurrency', counters: { ipHeld: 3, ipConcurrency: 3 } };
 */
export type RuleFacts<R extends IncidentRule = IncidentRule> = {
  [K in R]: { readonly rule: K; readonly counters: Readonly<FactsOf<K>> };
}[R];

/**
 * The stored form of a dry run.
 *
 * @example
 * dryRunFlag(true); // 'yes'
 */
export function dryRunFlag(dryRun: boolean): DryRunFlag {
  return dryRun ? 'yes' : 'no';
}

/**
 * Whether a stored `dryRun` says the action was only recorded. Reads what sluice writes
 * (`yes`), and `true` / `1` as a person or another tool might have written it.
 *
 * @example
 * wasDryRun('yes'); // true
 * wasDryRun(undefined); // false
 */
export function wasDryRun(stored: DryRunFlag | undefined): boolean {
  const v: unknown = stored;
  return v === 'yes' || v === 'true' || v === '1' || v === true;
}
