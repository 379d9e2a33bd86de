/**
 * Which mode applies to one request: the most specific setting wins — the matched
 * route's `mode`, else the caller's plan's, else the policy's own. So a policy may be
 * enforced with one new plan (or one new route) in shadow, or shadowed whole with one
 * route already enforced.
 *
 * @example
 * limitMode(policy, plan, match?.route); // 'shadow' when the route says so
 */
import type { LimitMode, Plan, Policy, RoutePolicy } from './types.ts';

export function limitMode(
  policy: Pick<Policy, 'mode'>,
  plan: Pick<Plan, 'mode'> | undefined,
  route: Pick<RoutePolicy, 'mode'> | undefined,
): LimitMode {
  return route?.mode ?? plan?.mode ?? policy.mode;
}
