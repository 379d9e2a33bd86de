/**
 * problem+json answers (RFC 9457). Every refusal carries the reference of its incident,
 * and a 429's `detail` is exactly the sentence the brief promises, so customers can
 * quote it to support.
 */
import type { ServerResponse } from 'node:http';
import type { RuleId } from '../core/decision.ts';
import type { CredentialSource } from '../core/policy/types.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The exact `detail` of every usage refusal (429s and the usage 403s): the brief's words. */
export function denialDetail(reference: string): string {
  return `Your request was denied due to a usage violation. You can track this request with support by referencing ${reference}.`;
}

/** The default policy's credential sources (`identity.credentials`), as compiled. */
const DEFAULT_CREDENTIALS: readonly CredentialSource[] = [
  { kind: 'authorization', scheme: 'Bearer' },
  { kind: 'header', name: 'x-api-key', label: 'X-API-Key' },
];

/** How a client sends its key in one source: `Authorization: Bearer <key>`, `?api_key=<key>`. */
function sendAs(source: CredentialSource): string {
  if (source.kind === 'authorization') return `Authorization: ${source.scheme} <key>`;
  return source.kind === 'header'
    ? `${source.label ?? source.name}: <key>`
    : `?${source.name}=<key> in the URL`;
}

/**
 * The `detail` of a 401: a forgotten or mistyped key is not a usage violation, so it gets
 * its own words (how to send the key: the policy's credential sources, the first one
 * first), still with the reference support can look up.
 *
 * @example
 * keyRefusalDetail('key-missing', 'RL-7KQ4-M9XT');
 * // 'Your request carries no API key: send it as Authorization: Bearer <key> (or X-API-Key: <key>). You can track …'
 * keyRefusalDetail('key-missing', 'RL-7KQ4-M9XT', [{ kind: 'query', name: 'api_key' }]);
 * // 'Your request carries no API key: send it as ?api_key=<key> in the URL. You can track …'
 */
export function keyRefusalDetail(
  rule: 'key-missing' | 'key-unknown',
  reference: string,
  credentials: readonly CredentialSource[] = DEFAULT_CREDENTIALS,
): string {
  const [first, ...rest] = credentials.map(sendAs);
  const others = rest.length === 0 ? '' : ` (or ${rest.join(', or ')})`;
  const what =
    rule === 'key-missing'
      ? `Your request carries no API key: send it as ${first}${others}.`
      : 'The API key of your request is not known here: check that it was copied whole and is the current one.';
  return `${what} You can track this request with support by referencing ${reference}.`;
}

/**
 * The `WWW-Authenticate` challenge of a 401 (RFC 9110 §11.6.1, RFC 6750 §3): sluice reads
 * the key as a Bearer token (X-API-Key is accepted too, but is no authentication scheme).
 *
 * @example
 * bearerChallenge('key-unknown'); // 'Bearer realm="sluice", error="invalid_token"'
 */
export function bearerChallenge(rule: 'key-missing' | 'key-unknown'): string {
  // RFC 6750: a request without credentials gets no error code; a wrong token does.
  return rule === 'key-missing'
    ? 'Bearer realm="sluice"'
    : 'Bearer realm="sluice", error="invalid_token"';
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  [extension: string]: unknown;
}

/** The problem type URI of a rule: a tag URI, stable and never fetched. */
export function problemType(name: string): string {
  return `tag:sluice,2026:problem:${name}`;
}

/**
 * A refusal by a sluice rule: 429, 401 or 403 with its reference, and `retryAfter` only
 * when the answer has a Retry-After header (the two are always equal; a revoked key or a
 * non-public route has no time at which retrying helps). `credentials`: the policy's
 * sources, named by a 401 `key-missing` (default: the default policy's).
 */
export function denialProblem(
  rule: RuleId | string,
  status: number,
  reference: string,
  retryAfterSec: number,
  credentials?: readonly CredentialSource[],
): Problem {
  return {
    type: problemType(rule),
    title: TITLES[status] ?? 'Refused',
    status,
    detail:
      rule === 'key-missing' || rule === 'key-unknown'
        ? keyRefusalDetail(rule, reference, credentials)
        : denialDetail(reference),
    reference,
    ...(retryAfterSec > 0 ? { retryAfter: retryAfterSec } : {}),
    rule,
  };
}

/** An answer that is not a refusal (upstream down, bad request line…). */
export function plainProblem(name: string, status: number, detail: string): Problem {
  return { type: problemType(name), title: TITLES[status] ?? 'Error', status, detail };
}

/** Why the upstream failed a request: no answer in time (504), or none at all (502). */
export type UpstreamFailure = 'upstream-timeout' | 'upstream-unavailable';

/**
 * The answer when the upstream failed a request: 504 when it did not answer in time
 * (server.upstreamTimeout), 502 when it could not be reached or broke off.
 */
export function upstreamFailureProblem(failure: UpstreamFailure): Problem {
  return failure === 'upstream-timeout'
    ? plainProblem(failure, 504, 'The upstream API did not answer in time. Try again later.')
    : plainProblem(failure, 502, 'The upstream API cannot be reached right now. Try again later.');
}

/**
 * A whole HTTP/1.1 problem+json answer, written straight to a socket that has no
 * response object (a request the parser gave up on, an upgrade): then closed.
 *
 * @example
 * socket.end(rawProblem(upstreamFailureProblem('upstream-unavailable')));
 */
export function rawProblem(problem: Problem): string {
  const body = JSON.stringify(problem);
  return `HTTP/1.1 ${problem.status} ${problem.title}\r\ncontent-type: ${PROBLEM_CONTENT_TYPE}\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** The 500 of a request sluice itself failed on (a bug costs one request, not the process). */
export function internalProblem(): Problem {
  return plainProblem('internal', 500, 'sluice failed to handle this request.');
}

/**
 * The one writer of a problem+json answer on a gateway response: the content type, the
 * headers given (in their order), then the length of the body. Refusals, bad targets,
 * badly framed requests, upstream failures and shutdown answers all go through here.
 *
 * @example
 * sendProblem(res, plainProblem('bad-path', 400, 'The request target …'), { 'cache-control': 'no-store' });
 */
export function sendProblem(
  res: ServerResponse,
  problem: Problem,
  headers: Readonly<Record<string, string>> = {},
): void {
  const body = JSON.stringify(problem);
  res.writeHead(problem.status, {
    'content-type': PROBLEM_CONTENT_TYPE,
    ...headers,
    'content-length': String(Buffer.byteLength(body)),
  });
  res.end(body);
}

/** The bodies of the latest refusals by reference: a flood answers from here. */
const denialBodies = new Map<
  string,
  {
    rule: string;
    status: number;
    retryAfter: number;
    credentials: readonly CredentialSource[] | undefined;
    body: string;
  }
>();
/** Incidents whose body is kept at once (a few hundred KB); past it, the map starts again. */
const DENIAL_BODIES = 1024;

/**
 * `sendProblem(res, denialProblem(rule, status, reference, retryAfterSec), headers)`,
 * byte for byte, with the body made once per incident: the refusals of one run share
 * their reference, so a flood of them (one IP, one key, one cause) serializes nothing
 * per request as long as its Retry-After stays the same second count.
 *
 * @example
 * sendDenial(res, 'ip-rate', 429, 'RL-7KQ4-M9XT', 3, { 'cache-control': 'no-store', 'retry-after': '3' });
 */
export function sendDenial(
  res: ServerResponse,
  rule: RuleId | string,
  status: number,
  reference: string,
  retryAfterSec: number,
  headers: Readonly<Record<string, string>>,
  credentials?: readonly CredentialSource[],
): void {
  let made = denialBodies.get(reference);
  if (
    made === undefined ||
    made.retryAfter !== retryAfterSec ||
    made.status !== status ||
    made.rule !== rule ||
    made.credentials !== credentials
  ) {
    const body = JSON.stringify(denialProblem(rule, status, reference, retryAfterSec, credentials));
    made = { rule, status, retryAfter: retryAfterSec, credentials, body };
    if (denialBodies.size >= DENIAL_BODIES) denialBodies.clear();
    denialBodies.set(reference, made);
  }
  // A flat list of pairs: Node writes it without walking an object's keys.
  const head: string[] = ['content-type', PROBLEM_CONTENT_TYPE];
  for (const name in headers) head.push(name, headers[name]);
  head.push('content-length', String(Buffer.byteLength(made.body)));
  res.writeHead(status, head);
  res.end(made.body);
}

/** The part of a Fastify reply (the admin API) a problem answer needs. */
export interface ProblemReply {
  code(status: number): ProblemReply;
  headers(values: Record<string, string>): ProblemReply;
  send(payload?: unknown): unknown;
}

/**
 * The same answer on a Fastify reply (the admin API): status, the content type and the
 * headers given, the problem as the body (Fastify frames it).
 *
 * @example
 * return replyProblem(reply, plainProblem('bad-ip', 400, '"x" is not an IP address.'));
 */
export function replyProblem<R extends ProblemReply>(
  reply: R,
  problem: Problem,
  headers: Readonly<Record<string, string>> = {},
): R {
  reply
    .code(problem.status)
    .headers({ 'content-type': PROBLEM_CONTENT_TYPE, ...headers })
    .send(problem);
  return reply;
}
