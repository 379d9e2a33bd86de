/**
 * The built-in policy, compiled: the default YAML (default-policy.ts) through the very
 * path a policy file takes (parse → validate → compile → freeze).
 */
import { DEFAULT_POLICY_YAML } from './default-policy.ts';
import { parsePolicyText } from './parse.ts';
import type { Policy } from './types.ts';

let compiled: Policy | undefined;

/**
 * The built-in policy, compiled (deeply frozen, so one value is shared).
 *
 * @example
 * defaultPolicy().ip.block; // { limit: 200, periodMs: 60000 }
 */
export function defaultPolicy(): Policy {
  compiled ??= parsePolicyText(DEFAULT_POLICY_YAML, 'built-in default');
  return compiled;
}
