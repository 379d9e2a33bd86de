/**
 * The IETF RateLimit header fields, as in draft-ietf-httpapi-ratelimit-headers-10/-11
 * (structured fields, one list member per policy):
 *
 *   RateLimit-Policy: "ip";q=200;w=60, "account";q=120;w=60
 *   RateLimit: "ip";r=187;t=1, "account";r=19;t=10
 *
 * `q` quota and `w` window (seconds) describe the policy; `r` remaining and `t` seconds
 * until the quota is restored describe the current state.
 */
import type { LimitState } from '../core/decision.ts';

export function rateLimitPolicyHeader(limits: readonly LimitState[]): string {
  let out = '';
  for (const l of limits) {
    if (out.length > 0) out += ', ';
    out += `"${l.policy}";q=${l.quota};w=${l.windowSec}`;
  }
  return out;
}

export function rateLimitHeader(limits: readonly LimitState[]): string {
  let out = '';
  for (const l of limits) {
    if (out.length > 0) out += ', ';
    out += `"${l.policy}";r=${l.remaining};t=${l.resetSec}`;
  }
  return out;
}

/**
 * The widely read `X-RateLimit-*` headers (GitHub's names), for clients that read only
 * those (`server.legacyRateLimitHeaders`). They describe one limit where the IETF
 * headers list several: the one nearest to refusing, the least remaining (on a tie, the
 * one back later), with the same numbers as its `RateLimit` member. `X-RateLimit-Reset`
 * is in seconds from now, the IETF `t`, not an epoch time as GitHub's: a delta needs no
 * clock shared by client and server, and is the same value as the header beside it.
 *
 * @example
 * legacyRateLimitHeaders([{ policy: 'ip', quota: 200, windowSec: 60, remaining: 199, resetSec: 60 },
 *   { policy: 'account', quota: 6, windowSec: 60, remaining: 1, resetSec: 10 }], into);
 * // into: { 'x-ratelimit-limit': '6', 'x-ratelimit-remaining': '1', 'x-ratelimit-reset': '10' }
 */
export function legacyRateLimitHeaders(
  limits: readonly LimitState[],
  into: Record<string, string>,
): void {
  let binding: LimitState | undefined;
  for (const l of limits) {
    if (
      binding === undefined ||
      l.remaining < binding.remaining ||
      (l.remaining === binding.remaining && l.resetSec > binding.resetSec)
    ) {
      binding = l;
    }
  }
  if (binding === undefined) return;
  into['x-ratelimit-limit'] = String(binding.quota);
  into['x-ratelimit-remaining'] = String(binding.remaining);
  into['x-ratelimit-reset'] = String(binding.resetSec);
}
