/** The policy: YAML text → validated, compiled, frozen `Policy`. Re-exports only. */
export { compileDocument, compilePolicy, type Env } from './compile.ts';
export { DEFAULT_POLICY_YAML, defaultPolicy } from './default-policy.ts';
export { describePolicy } from './describe.ts';
export { type ServerOverrides, withServerOverrides } from './override.ts';
export { parsePolicyText } from './parse.ts';
export { POLICY_SCHEMA } from './schema.ts';
export type * from './types.ts';
export { formatDuration, formatRate, type Parsed, parseDuration, parseRate } from './units.ts';
