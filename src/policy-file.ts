/**
 * Reads a policy file from disk (the one I/O step before the pure parse/compile).
 * Owned by the policy work: replaced with the real loader.
 */
import type { Policy } from './core/policy/types.ts';

/** Loads and compiles the policy at `path`, or the built-in default when `path` is undefined. */
export function loadPolicy(_path: string | undefined): Policy {
  throw new Error('policy loading is not built yet');
}
