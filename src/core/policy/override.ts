/**
 * Command-line overrides of the server settings (`--listen`, `--upstream`, `--data`).
 * Owned by the policy work: replaced with the real, validating version.
 */
import type { Policy } from './types.ts';

export interface ServerOverrides {
  listen?: string;
  upstream?: string;
  dataDir?: string;
}

export function withServerOverrides(policy: Policy, _overrides: ServerOverrides): Policy {
  return policy;
}
