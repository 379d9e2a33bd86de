/**
 * What the request path derives from a policy, compiled once per policy: the route
 * matcher, the trusted proxies, the headers a client may not send upstream. A request
 * reads the snapshot once when it arrives and keeps it to the end; a reload swaps the
 * whole snapshot, so no request sees half of one policy and half of another.
 *
 * @example
 * let runtime = compileRuntime(policy);
 * // on reload:
 * runtime = compileRuntime(next);
 */
import type { Policy } from '../core/policy/types.ts';
import { compileRoutes, type RouteMatcher } from '../core/routes/route-matcher.ts';
import { type TrustedProxies, trustedProxies } from './client-ip.ts';

export interface Runtime {
  readonly policy: Policy;
  readonly routes: RouteMatcher;
  readonly trusted: TrustedProxies;
  /** The shared-egress ranges (`ip.sharedEgress`), compiled like the trusted proxies. */
  readonly sharedEgress: TrustedProxies;
  /** Request headers never forwarded (identityStrip). */
  readonly strip: ReadonlySet<string>;
  /** The identity headers sluice sets upstream, lower-cased once (`server.identityHeaders`). */
  readonly identityNames: { readonly account: string; readonly key: string };
}

/** The snapshot of one policy. */
export function compileRuntime(policy: Policy): Runtime {
  return Object.freeze({
    policy,
    routes: compileRoutes(policy.routes, { caseSensitive: policy.server.caseSensitiveRoutes }),
    trusted: trustedProxies(policy.server.trustedProxies),
    sharedEgress: trustedProxies(policy.ip.sharedEgress),
    strip: identityStrip(policy),
    identityNames: Object.freeze({
      account: policy.server.identityHeaders.account.toLowerCase(),
      key: policy.server.identityHeaders.key.toLowerCase(),
    }),
  });
}

/**
 * Headers a client may not send upstream: who the caller is (sluice sets those), and
 * the headers some frameworks read as the real path or method (Symfony and IIS take
 * `X-Original-URL` / `X-Rewrite-URL` as the path, method-override middleware takes
 * `X-HTTP-Method-Override`), which would let a request be routed upstream somewhere
 * other than where sluice's route rules placed it.
 *
 * @example
 * identityStrip(policy).has('x-original-url'); // true
 */
export function identityStrip(policy: Policy): ReadonlySet<string> {
  const ids = policy.server.identityHeaders;
  return new Set([
    ids.account.toLowerCase(),
    ids.key.toLowerCase(),
    'x-forwarded-for',
    'forwarded',
    'x-forwarded-host',
    'x-forwarded-proto',
    'x-forwarded-port',
    'x-forwarded-prefix',
    'x-real-ip',
    'x-original-url',
    'x-rewrite-url',
    'x-http-method-override',
    'x-http-method',
    'x-method-override',
  ]);
}
