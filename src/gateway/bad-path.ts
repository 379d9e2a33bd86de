/**
 * The answer to a request target that cannot be made canonical (canonical-path.ts):
 * 400 problem+json with rule `bad-path`, the machine `reason` and a sentence saying
 * what is wrong. It is a client's mistake (or a probe), not a usage refusal, so it has
 * no incident and no reference, like the other errors of the gateway itself.
 *
 * @example
 * const canonical = canonicalTarget(req.url ?? '/');
 * if ('reason' in canonical) sendProblem(res, badPathProblem(canonical), { 'cache-control': 'no-store' });
 */
import type { PathRefusal } from '../core/routes/canonical-path.ts';
import { type Problem, plainProblem } from './problem.ts';

/** The rule name of the answer, in the body and the refusal metric. */
export const BAD_PATH_RULE = 'bad-path';

/** The 400 problem for a target sluice will not route or forward. */
export function badPathProblem(refusal: PathRefusal): Problem {
  return {
    ...plainProblem(
      BAD_PATH_RULE,
      400,
      `The request target cannot be made canonical: ${refusal.message}.`,
    ),
    rule: BAD_PATH_RULE,
    reason: refusal.reason,
  };
}
