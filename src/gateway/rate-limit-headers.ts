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
