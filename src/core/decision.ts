/**
 * A decision is a value, never a thrown error: the engine says allow, delay or deny,
 * names the rule that fired, and carries what the response headers and the incident
 * need (limits, remaining, reset, counters at the time).
 */

import type { Counters, FactsOf } from './incident-facts.ts';

/** Every rule that can slow, refuse or act on a request. Stable: they appear in incidents. */
export const RULES = [
  'ip-block', // per-IP block threshold (429)
  'account-rate', // account over its rate by more than the maximum delay (429)
  'account-slowed', // too many of the account's requests are being slowed (429)
  'account-queue', // the account's queue of waiting requests is full (429)
  'account-queue-timeout', // waited in the account's queue too long (429)
  'route-rate', // a route's own per-account rate (429)
  'bulk-export', // bulk export allowance used up for the period (429)
  'batch-window', // batch route outside the off-hours windows (429)
  'non-public', // API-key caller on a non-public route (403)
  'key-revoked', // revoked API key (403)
  'key-suspended', // suspended API key (403)
  'key-unknown', // unknown API key when the policy refuses those (401)
  'key-missing', // no API key when the policy refuses those (401)
  'ip-blocked', // IP blocked by a safeguard (403)
  'ip-concurrency', // too many requests of one client IP held at once (429)
  'unauthenticated-concurrency', // too many requests without a key held at once, all IPs (429)
] as const;

export type RuleId = (typeof RULES)[number];

/**
 * One limit that applied to the request, as the IETF RateLimit headers need it
 * (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy: "<policy>";q=<quota>;w=<window>`
 * and `RateLimit: "<policy>";r=<remaining>;t=<reset>`.
 */
export interface LimitState {
  /** Policy name in the headers, e.g. `ip` or `account`. */
  readonly policy: string;
  readonly quota: number;
  readonly windowSec: number;
  readonly remaining: number;
  readonly resetSec: number;
}

/** The per-IP warning threshold was crossed by this request. */
export interface IpWarning {
  readonly ip: string;
  /** Requests counted in the window, this one included. */
  readonly count: number;
  readonly limit: number;
  /** True for the first warning in this window: report it (log, metric, webhook) now. */
  readonly report: boolean;
}

export interface Allow {
  readonly outcome: 'allow';
  readonly limits: readonly LimitState[];
  readonly warning: IpWarning | undefined;
}

export interface Delay {
  readonly outcome: 'delay';
  /** Hold the request this long, then forward it. */
  readonly delayMs: number;
  readonly rule: RuleId;
  readonly limits: readonly LimitState[];
  readonly warning: IpWarning | undefined;
}

export interface Deny {
  readonly outcome: 'deny';
  readonly rule: RuleId;
  /** 429, or 401/403 for key and route refusals. */
  readonly status: 401 | 403 | 429;
  /** When the same request could succeed; 0 when waiting will not help. */
  readonly retryAfterMs: number;
  readonly limits: readonly LimitState[];
  /** The counters at the time, for the incident (e.g. `{ ipRequests: 201, ipBlock: 200 }`). */
  readonly counters: Counters;
  readonly warning: IpWarning | undefined;
}

export type Decision = Allow | Delay | Deny;

/** Builds a denial with the facts its rule records (incident-facts.ts); `status` defaults to 429. */
export function deny<R extends RuleId>(
  rule: R,
  retryAfterMs: number,
  counters: FactsOf<R>,
  limits: readonly LimitState[] = [],
  warning?: IpWarning,
  status: 401 | 403 | 429 = 429,
): Deny {
  return { outcome: 'deny', rule, status, retryAfterMs, limits, counters, warning };
}
