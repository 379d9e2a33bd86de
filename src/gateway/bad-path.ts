/**
 * The answer to a request target that cannot be made canonical (canonical-path.ts):
 * 400 problem+json with rule `bad-path`, the machine `reason` and a sentence saying
 * what is wrong. It is a client's mistake (or a probe), not a usage refusal, so it has
 * no incident and no reference, like the other errors of the gateway itself.
 *
 * @example
 * const canonical = canonicalTarget(req.url ?? '/');
 * if ('reason' in canonical) return answerBadPath(res, canonical);
 */
import type { ServerResponse } from 'node:http';
import type { PathRefusal } from '../core/routes/canonical-path.ts';
import { PROBLEM_CONTENT_TYPE, plainProblem } from './problem.ts';

/** The rule name of the answer, in the body and the refusal metric. */
export const BAD_PATH_RULE = 'bad-path';

/** Answers 400 for a target sluice will not route or forward. */
export function answerBadPath(res: ServerResponse, refusal: PathRefusal): void {
  const body = JSON.stringify({
    ...plainProblem(
      BAD_PATH_RULE,
      400,
      `The request target cannot be made canonical: ${refusal.message}.`,
    ),
    rule: BAD_PATH_RULE,
    reason: refusal.reason,
  });
  res.writeHead(400, {
    'content-type': PROBLEM_CONTENT_TYPE,
    'cache-control': 'no-store',
    'content-length': String(Buffer.byteLength(body)),
  });
  res.end(body);
}
