/**
 * Stage 5, answer: everything the gateway itself says to a client goes out here. A
 * refusal becomes an incident (its reference goes in the answer), a problem+json body
 * with Retry-After, the RateLimit and warning headers, a metric, a log line, and what
 * the safeguards are told; answers that are not refusals (a target with no canonical
 * form, a request still waiting at shutdown) are problem+json too, through the same
 * writer (problem.ts `sendProblem`).
 *
 * @example
 * const answer = createAnswer(deps);
 * answer.refuse(res, caller, refusal('ip-concurrency', 429, 1000, { ipHeld: 32, ipConcurrency: 32 }));
 */
import type { ServerResponse } from 'node:http';
import type { IpWarning, LimitState, RuleId } from '../../core/decision.ts';
import { dryRunFlag, type ShadowFacts } from '../../core/incident-facts.ts';
import type { Subject } from '../../core/records.ts';
import type { Refusal } from '../../core/refusal.ts';
import type { PathRefusal } from '../../core/routes/canonical-path.ts';
import type { ObservationKind } from '../../core/safeguard/index.ts';
import { BAD_PATH_RULE, badPathProblem } from '../bad-path.ts';
import type { IncidentRecorder } from '../incident-recorder.ts';
import type { GatewayLogger } from '../logger.ts';
import type { GatewayMetrics } from '../metrics.ts';
import {
  bearerChallenge,
  internalProblem,
  plainProblem,
  sendDenial,
  sendProblem,
} from '../problem.ts';
import {
  legacyRateLimitHeaders,
  rateLimitHeader,
  rateLimitPolicyHeader,
} from '../rate-limit-headers.ts';
import type { Runtime } from '../runtime.ts';
import type { Exchange } from './exchange.ts';
import type { Caller } from './identify.ts';

/** Response header when the per-IP warning threshold is crossed. */
export const WARNING_HEADER = 'sluice-warning';

/**
 * Response header of a request in shadow mode that a limit would have delayed or
 * refused (it was forwarded at once): `refuse; rule=account-rate; reference=RL-…`,
 * `delay=1200; rule=account-rate; reference=RL-…`, or `queue` (it would have waited for
 * a concurrency slot). Several are separated by commas.
 */
export const SHADOW_HEADER = 'sluice-shadow';

export interface AnswerDeps {
  incidents: IncidentRecorder;
  logger: GatewayLogger;
  metrics: GatewayMetrics;
  /** Reports behaviour to the safeguards (`arrivedAt`: when the request arrived). */
  observe(kind: ObservationKind, subject: Subject, arrivedAt?: number): void;
  /** Called for the first IP warning of each window (webhook, …). */
  onWarning?(warning: IpWarning, subject: Subject): void;
  /**
   * The current policy's snapshot, read for `server.legacyRateLimitHeaders` (a refusal
   * has no exchange to carry the request's own); without it, none are sent.
   */
  runtime?(): Runtime;
}

export interface Answer {
  /** Answers a refusal: incident, problem+json, headers. It never reaches the upstream. */
  refuse(res: ServerResponse, caller: Caller, refusal: Refusal): void;
  /**
   * Shadow mode: records what `refusal` would have done (incident marked dry run, metric,
   * log line, the Sluice-Shadow header, what the safeguards are told) and answers nothing:
   * the request goes on.
   */
  shadowRefuse(ex: Exchange, refusal: Refusal): void;
  /** Shadow mode: records the delay the request would have been held (it is not held). */
  shadowDelay(ex: Exchange, rule: RuleId, delayMs: number): void;
  /** Shadow mode: notes in the Sluice-Shadow header that the request would have queued. */
  shadowQueue(ex: Exchange): void;
  /** Answers 400 for a target sluice will not route or forward (no incident). */
  badPath(res: ServerResponse, caller: Caller, refusal: PathRefusal): void;
  /** Answers 503 for a request still waiting when the gateway stops. */
  shuttingDown(res: ServerResponse): void;
  /** Answers 500 when handling the request failed, or cuts a response already begun. */
  failed(res: ServerResponse): void;
  /** Answers 503 when the shared limit store is not answering and the policy fails closed. */
  limitsUnavailable(res: ServerResponse): void;
  /** Adds the RateLimit headers of `limits` and the IP warning, reporting a first warning. */
  limitHeaders(
    caller: Caller,
    limits: readonly LimitState[],
    warning: IpWarning | undefined,
    into: Record<string, string>,
  ): void;
}

export function createAnswer(deps: AnswerDeps): Answer {
  // One child per rule, made once: prom-client hashes a label set on every
  // `inc({ rule })`, a child's `inc()` does not (a flood counts one per refusal).
  const refusedBy = new Map<string, { inc(): void }>();
  const refusedOf = (rule: string) => {
    let child = refusedBy.get(rule);
    if (child === undefined) {
      child = deps.metrics.refused.labels({ rule });
      refusedBy.set(rule, child);
    }
    return child;
  };

  function limitHeaders(
    caller: Caller,
    limits: readonly LimitState[],
    warning: IpWarning | undefined,
    into: Record<string, string>,
    runtime: Runtime | undefined = deps.runtime?.(),
  ) {
    if (limits.length > 0) {
      into['ratelimit-policy'] = rateLimitPolicyHeader(limits);
      into.ratelimit = rateLimitHeader(limits);
      if (runtime?.policy.server.legacyRateLimitHeaders) legacyRateLimitHeaders(limits, into);
    }
    if (warning === undefined) return;
    into[WARNING_HEADER] = `"ip";count=${warning.count};limit=${warning.limit}`;
    if (warning.report) {
      deps.metrics.warnings.inc();
      deps.logger.warn(
        {
          event: 'ip-warning',
          ip: warning.ip,
          count: warning.count,
          limit: warning.limit,
          ...caller.subject,
        },
        'IP crossed the warning threshold',
      );
      deps.onWarning?.(warning, caller.subject);
    }
  }

  /** The incident, metric, log line and header of one shadow decision; its reference. */
  function shadowed(
    ex: Exchange,
    rule: RuleId,
    facts: ShadowFacts,
    counters: object,
    note?: string,
  ) {
    const { caller, headers } = ex;
    const reference = deps.incidents.record(
      rule,
      caller.subject,
      { ...(counters as Record<string, number | string>), ...facts },
      note,
    );
    deps.metrics.shadow.inc({ rule, would: facts.would });
    deps.logger.debug(
      {
        event: 'shadow',
        would: facts.would,
        rule,
        reference,
        delayMs: facts.delayMs,
        ...caller.subject,
      },
      'shadow mode: a limit would have acted',
    );
    const said = facts.would === 'delay' ? `delay=${facts.delayMs}` : 'refuse';
    addShadow(headers, `${said}; rule=${rule}; reference=${reference}`);
    return reference;
  }

  return {
    limitHeaders,
    shadowRefuse(ex, r) {
      // The RateLimit headers come with the admission the request goes on with.
      shadowed(ex, r.rule, { dryRun: dryRunFlag(true), would: 'refuse' }, r.counters, r.note);
      // The safeguards see what they would have seen, and in shadow mode only record too.
      const { caller } = ex;
      if (r.status === 429) deps.observe('rejected-429', caller.subject, caller.arrivedAt);
      else if (r.rule === 'non-public' && caller.subject.keyId !== undefined) {
        deps.observe('non-public-attempt', caller.subject);
      }
    },
    shadowDelay(ex, rule, delayMs) {
      const ms = Math.ceil(delayMs);
      shadowed(ex, rule, { dryRun: dryRunFlag(true), would: 'delay', delayMs: ms }, {});
    },
    shadowQueue(ex) {
      addShadow(ex.headers, 'queue');
    },
    refuse(res, caller, r) {
      const { rule, status } = r;
      const reference = deps.incidents.record(rule, caller.subject, r.counters, r.note);
      const retryAfter = r.retryAfterMs > 0 ? Math.max(1, Math.ceil(r.retryAfterMs / 1000)) : 0;
      const headers: Record<string, string> = { 'cache-control': 'no-store' };
      if (retryAfter > 0) headers['retry-after'] = String(retryAfter);
      if (rule === 'key-missing' || rule === 'key-unknown') {
        headers['www-authenticate'] = bearerChallenge(rule);
      }
      // The snapshot read once for both its uses here.
      const runtime = deps.runtime?.();
      limitHeaders(caller, r.limits, r.warning, headers, runtime);
      refusedOf(rule).inc();
      // A flood logs nothing per request at the usual level: not even the line's object.
      if (deps.logger.isLevelEnabled('debug')) {
        deps.logger.debug(
          { event: 'refused', rule, reference, ...caller.subject },
          'request refused',
        );
      }
      const credentials = runtime?.policy.identity.credentials;
      sendDenial(res, rule, status, reference, retryAfter, headers, credentials);
      if (status === 429) deps.observe('rejected-429', caller.subject, caller.arrivedAt);
      else if (rule.startsWith('key-')) deps.observe('auth-failure', caller.subject);
      else if (rule === 'non-public' && caller.subject.keyId !== undefined) {
        deps.observe('non-public-attempt', caller.subject);
      }
    },
    badPath(res, caller, refusal) {
      sendProblem(res, badPathProblem(refusal), { 'cache-control': 'no-store' });
      refusedOf(BAD_PATH_RULE).inc();
      deps.observe('malformed-4xx', caller.subject);
    },
    failed(res) {
      if (!res.headersSent) sendProblem(res, internalProblem());
      else res.destroy();
    },
    limitsUnavailable(res) {
      if (res.headersSent || res.destroyed) return;
      deps.metrics.refused.inc({ rule: 'limits-unavailable' });
      sendProblem(
        res,
        {
          ...plainProblem(
            'limits-unavailable',
            503,
            'The gateway cannot check its limits right now; retry this request in a second.',
          ),
          code: 'SLUICE_ERR_LIMITS_UNAVAILABLE',
        },
        { 'retry-after': '1', 'cache-control': 'no-store' },
      );
    },
    shuttingDown(res) {
      if (res.headersSent || res.destroyed) return;
      sendProblem(
        res,
        plainProblem(
          'shutting-down',
          503,
          'The gateway is shutting down; retry this request in a few seconds.',
        ),
        { 'retry-after': '5', connection: 'close' },
      );
    },
  };
}

/** Appends one shadow decision to the Sluice-Shadow header being gathered. */
function addShadow(headers: Record<string, string>, entry: string): void {
  const before = headers[SHADOW_HEADER];
  headers[SHADOW_HEADER] = before === undefined ? entry : `${before}, ${entry}`;
}
