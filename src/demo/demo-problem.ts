/**
 * RFC 9457 problem details for the demo API's own errors (bad parameters, unknown ids),
 * so clients and the gateway see the same shape from the upstream as from sluice.
 */
import type { FastifyReply } from 'fastify';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface DemoProblem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
};

/**
 * Builds a problem; `slug` names the kind of problem in its `type` URN.
 *
 * @example
 * problem(400, 'invalid-parameter', 'limit must be an integer from 1 to 1000, got "0".');
 */
export function problem(status: number, slug: string, detail: string): DemoProblem {
  return {
    type: `urn:sluice-demo:problem:${slug}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
  };
}

/** Answers with a problem+json body; returns the reply for Fastify's async handlers. */
export function sendProblem(
  reply: FastifyReply,
  status: number,
  slug: string,
  detail: string,
): FastifyReply {
  return reply
    .code(status)
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(problem(status, slug, detail)));
}
