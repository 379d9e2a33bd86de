/**
 * What the gateway tells the safeguards (observations) and what it gets back (actions).
 * The gateway acts on an action (blocks the IP, suspends or revokes the key) and records
 * it as an incident; a dry-run action is recorded and not acted on.
 */

import type { SafeguardObservedFacts } from '../incident-facts.ts';
import type { SafeguardAction, SafeguardPolicy } from '../policy/types.ts';
import type { SafeguardRuleId, Subject } from '../records.ts';

/**
 * Kinds of behaviour the gateway reports, one per request:
 * - `auth-failure`: answered 401/403, or carried a revoked or suspended key (subject: IP, and key if any);
 * - `rejected-429`: answered 429 (subject: key and account, or IP when there is no key);
 * - `malformed-4xx`: answered 400/404/405/413/422… by the upstream or by sluice (subject: key, or IP);
 * - `non-public-attempt`: an API-key caller on a non-public route (subject: key).
 */
export const OBSERVATION_KINDS = [
  'auth-failure',
  'rejected-429',
  'malformed-4xx',
  'non-public-attempt',
] as const;

export type ObservationKind = (typeof OBSERVATION_KINDS)[number];

/** A rule's name in the policy (`afterAuthFailure`…). */
export type SafeguardRuleName = keyof SafeguardPolicy;

/** Which rule counts each kind of observation. */
export const RULE_FOR_KIND: Readonly<Record<ObservationKind, SafeguardRuleName>> = {
  'auth-failure': 'afterAuthFailure',
  'rejected-429': 'ignoring429',
  'malformed-4xx': 'malformedStorm',
  'non-public-attempt': 'nonPublicAutomation',
};

/** The stable id each rule carries in incidents. */
export const RULE_IDS: Readonly<Record<SafeguardRuleName, SafeguardRuleId>> = {
  afterAuthFailure: 'safeguard-auth-failure',
  ignoring429: 'safeguard-ignoring-429',
  malformedStorm: 'safeguard-malformed-storm',
  nonPublicAutomation: 'safeguard-non-public',
};

/**
 * One action a rule decided on. The gateway carries it out unless `dryRun`, and records
 * it (incident with `rule`, `subject`, `counters`; audit entry with `reason`).
 *
 * @example
 * {
 *   rule: 'safeguard-ignoring-429', kind: 'suspend', subject: { keyId: 'k1', accountId: 'a1' },
 *   observed: { keyId: 'k1', accountId: 'a1', ip: '203.0.113.9' }, at: 1767225600000,
 *   durationMs: 3600000, until: 1767229200000, offence: 1, dryRun: false,
 *   reason: '100 requests answered 429 within 1 minute (threshold 100); 1st offence of key k1, so it is suspended for 1 hour',
 *   counters: { observations: 100, threshold: 100, windowMs: 60000, offence: 1, durationMs: 3600000 },
 * }
 */
export interface Action {
  readonly rule: SafeguardRuleId;
  readonly kind: SafeguardAction;
  /** What the action is taken on: `{ ip }` for `block-ip`, `{ keyId, accountId? }` otherwise. */
  readonly subject: Subject;
  /** The observation that crossed the threshold, in full (key, account, IP as known). */
  readonly observed: Subject;
  /** When the rule fired (the clock's now). */
  readonly at: number;
  /** How long the block or suspension lasts; undefined for `revoke`. */
  readonly durationMs: number | undefined;
  /** `at + durationMs`; undefined for `revoke`. */
  readonly until: number | undefined;
  /** 1 for the subject's first offence against this rule, 2 for the second… */
  readonly offence: number;
  /** Record only, do not act (the rule is in dry-run). */
  readonly dryRun: boolean;
  /** Plain words with the counts, for the incident, the audit trail and the webhook. */
  readonly reason: string;
  readonly counters: Readonly<SafeguardObservedFacts>;
}
