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
import type { IpWarning, LimitState } from '../../core/decision.ts';
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
  denialProblem,
  internalProblem,
  plainProblem,
  sendProblem,
} from '../problem.ts';
import { rateLimitHeader, rateLimitPolicyHeader } from '../rate-limit-headers.ts';
import type { Caller } from './identify.ts';

/** Response header when the per-IP warning threshold is crossed. */
export const WARNING_HEADER = 'sluice-warning';

export interface AnswerDeps {
  incidents: IncidentRecorder;
  logger: GatewayLogger;
  metrics: GatewayMetrics;
  /** Reports behaviour to the safeguards (`arrivedAt`: when the request arrived). */
  observe(kind: ObservationKind, subject: Subject, arrivedAt?: number): void;
  /** Called for the first IP warning of each window (webhook, …). */
  onWarning?(warning: IpWarning, subject: Subject): void;
}

export interface Answer {
  /** Answers a refusal: incident, problem+json, headers. It never reaches the upstream. */
  refuse(res: ServerResponse, caller: Caller, refusal: Refusal): void;
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
  function limitHeaders(
    caller: Caller,
    limits: readonly LimitState[],
    warning: IpWarning | undefined,
    into: Record<string, string>,
  ) {
    if (limits.length > 0) {
      into['ratelimit-policy'] = rateLimitPolicyHeader(limits);
      into.ratelimit = rateLimitHeader(limits);
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

  return {
    limitHeaders,
    refuse(res, caller, r) {
      const { rule, status } = r;
      const reference = deps.incidents.record(rule, caller.subject, r.counters, r.note);
      const retryAfter = r.retryAfterMs > 0 ? Math.max(1, Math.ceil(r.retryAfterMs / 1000)) : 0;
      const headers: Record<string, string> = { 'cache-control': 'no-store' };
      if (retryAfter > 0) headers['retry-after'] = String(retryAfter);
      if (rule === 'key-missing' || rule === 'key-unknown') {
        headers['www-authenticate'] = bearerChallenge(rule);
      }
      limitHeaders(caller, r.limits, r.warning, headers);
      deps.metrics.refused.inc({ rule });
      deps.logger.debug(
        { event: 'refused', rule, reference, ...caller.subject },
        'request refused',
      );
      sendProblem(res, denialProblem(rule, status, reference, retryAfter), headers);
      if (status === 429) deps.observe('rejected-429', caller.subject, caller.arrivedAt);
      else if (rule.startsWith('key-')) deps.observe('auth-failure', caller.subject);
      else if (rule === 'non-public' && caller.subject.keyId !== undefined) {
        deps.observe('non-public-attempt', caller.subject);
      }
    },
    badPath(res, caller, refusal) {
      sendProblem(res, badPathProblem(refusal), { 'cache-control': 'no-store' });
      deps.metrics.refused.inc({ rule: BAD_PATH_RULE });
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
