/**
 * Before identify: the request's credential, read once from the sources the policy
 * lists. Two different credentials are answered 400 `credential-conflict` (sluice does
 * not guess which one the client meant). A credential sluice's own store does not know
 * is asked about at the delegate (`identity.delegate`), when there is one: its cached
 * answer costs nothing, a lookup is the only wait (bounded by the delegate's timeout);
 * a failed lookup is answered 503 `identity-unavailable` (`onFailure: refuse`) or lets
 * the request through as one without a key (`anonymous`). Neither answer is a usage
 * refusal: no incident, no reference, like `bad-path`.
 *
 * @example
 * const input = credentials(req, res, runtime);
 * whenReady(input, (i) => i !== undefined && identifyCaller(req, runtime, deps, i));
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter } from 'prom-client';
import { hashApiKey } from '../../core/api-key.ts';
import type { Clock } from '../../core/clock.ts';
import type { MaybePromise } from '../../core/maybe-async.ts';
import type { CredentialSource, DelegatePolicy } from '../../core/policy/types.ts';
import { credentialOf } from '../api-key-header.ts';
import {
  createDelegatedIdentity,
  type DelegateAnswer,
  type DelegatedIdentity,
} from '../delegated-identity.ts';
import type { IdentityCache } from '../identity-cache.ts';
import type { GatewayLogger } from '../logger.ts';
import type { GatewayMetrics } from '../metrics.ts';
import { plainProblem, sendProblem } from '../problem.ts';
import type { Runtime } from '../runtime.ts';
import type { IdentifyInput } from './identify.ts';

export interface CredentialDeps {
  clock: Clock;
  identities: IdentityCache;
  logger: GatewayLogger;
  metrics: GatewayMetrics;
  /** The delegate's HTTP client (global fetch by default). */
  delegateFetch?: typeof fetch;
}

/** The credential and the delegate's answer, or undefined once the request is answered. */
export type CredentialStage = (
  req: IncomingMessage,
  res: ServerResponse,
  runtime: Runtime,
) => MaybePromise<IdentifyInput | undefined>;

/** Seconds a client is told to wait when the delegate cannot be asked. */
const UNAVAILABLE_RETRY_SEC = 5;

export function createCredentialStage(deps: CredentialDeps): CredentialStage {
  const lookups = new Counter({
    name: 'sluice_delegate_lookups_total',
    help: 'Credentials looked up at the identity delegate, by result: hit (cached), account, unknown, failed, overflow (too many lookups at once).',
    labelNames: ['result'],
    registers: [deps.metrics.registry],
  });
  // One delegate (and cache) per delegate setting: a reload that changes it starts afresh.
  let current: { policy: DelegatePolicy; delegate: DelegatedIdentity } | undefined;
  function delegateFor(policy: DelegatePolicy): DelegatedIdentity {
    if (current?.policy !== policy) {
      const delegate = createDelegatedIdentity({
        policy,
        clock: deps.clock,
        logger: deps.logger,
        lookups,
        fetch: deps.delegateFetch,
      });
      current = { policy, delegate };
    }
    return current.delegate;
  }

  return (req, res, runtime) => {
    const identity = runtime.policy.identity;
    const credential = credentialOf(req, identity.credentials);
    if (credential === undefined) return { credential };
    if ('conflict' in credential) {
      deps.metrics.refused.inc({ rule: 'credential-conflict' });
      sendProblem(res, conflictProblem(credential.conflict), { 'cache-control': 'no-store' });
      return undefined;
    }
    const policy = identity.delegate;
    if (policy === undefined) return { credential };
    const hash = hashApiKey(credential.credential);
    if (deps.identities.byHash(hash) !== undefined) return { credential };
    const delegate = delegateFor(policy);
    const answered = (delegated: DelegateAnswer): IdentifyInput | undefined => {
      if (delegated.kind !== 'failed' || policy.onFailure === 'anonymous') {
        return { credential, delegated };
      }
      deps.metrics.refused.inc({ rule: 'identity-unavailable' });
      sendProblem(
        res,
        {
          ...plainProblem(
            'identity-unavailable',
            503,
            'The API key of this request cannot be checked right now: the service that knows it does not answer. Retry in a few seconds.',
          ),
          rule: 'identity-unavailable',
        },
        { 'cache-control': 'no-store', 'retry-after': String(UNAVAILABLE_RETRY_SEC) },
      );
      return undefined;
    };
    const cached = delegate.cached(hash);
    return cached !== undefined
      ? answered(cached)
      : delegate.lookup(credential.credential, hash).then(answered);
  };
}

/** Words for where a credential was found: `Authorization: Bearer`, `X-Api-Key`, `?api_key`. */
function sourceText(source: CredentialSource): string {
  if (source.kind === 'authorization') return `Authorization: ${source.scheme}`;
  return source.kind === 'header' ? `the ${source.name} header` : `?${source.name}`;
}

function conflictProblem(sources: readonly CredentialSource[]) {
  return {
    ...plainProblem(
      'credential-conflict',
      400,
      `The request carries two different API keys (in ${sources.map(sourceText).join(' and ')}): send one key, in one place.`,
    ),
    rule: 'credential-conflict',
  };
}

/**
 * What forwarding removes for a caller whose credential is stripped: the headers it was
 * in (added to the runtime's strip set) and the query parameters.
 *
 * @example
 * stripOf(runtime.strip, [{ kind: 'authorization', scheme: 'Bearer' }]).headers.has('authorization'); // true
 */
export function stripOf(
  base: ReadonlySet<string>,
  sources: readonly CredentialSource[],
): { headers: ReadonlySet<string>; query: readonly string[] } {
  // A key found in one source (the usual case) is the same answer for every request of
  // this runtime: made once per source, not a copy of the strip set per request.
  if (sources.length === 1) {
    let bySource = oneSource.get(base);
    if (bySource === undefined) {
      bySource = new Map();
      oneSource.set(base, bySource);
    }
    let made = bySource.get(sources[0]);
    if (made === undefined) {
      made = buildStrip(base, sources);
      bySource.set(sources[0], made);
    }
    return made;
  }
  return buildStrip(base, sources);
}

type Strip = { headers: ReadonlySet<string>; query: readonly string[] };

/** Per runtime strip set (a reload makes a new one), per policy source object. */
const oneSource = new WeakMap<ReadonlySet<string>, Map<CredentialSource, Strip>>();

function buildStrip(base: ReadonlySet<string>, sources: readonly CredentialSource[]): Strip {
  const headers = new Set(base);
  const query: string[] = [];
  for (const s of sources) {
    if (s.kind === 'query') query.push(s.name);
    else headers.add(s.kind === 'header' ? s.name : 'authorization');
  }
  return { headers, query };
}
