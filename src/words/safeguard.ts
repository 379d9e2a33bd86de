/** Plain words for safeguard actions: durations, ordinals, and the reason line. */
import type { SafeguardAction } from '../core/policy/types.ts';
import type { ObservationKind } from '../core/safeguard/types.ts';

const UNITS: [number, string][] = [
  [604_800_000, 'week'],
  [86_400_000, 'day'],
  [3_600_000, 'hour'],
  [60_000, 'minute'],
  [1_000, 'second'],
];

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * A duration in the largest unit that divides it exactly.
 *
 * @example
 * humanDuration(86_400_000); // '1 day'
 * humanDuration(90_000); // '90 seconds'
 */
export function humanDuration(ms: number): string {
  for (const [size, unit] of UNITS) {
    if (ms >= size && ms % size === 0) return plural(ms / size, unit);
  }
  return `${ms} ms`;
}

/**
 * @example
 * ordinal(2); // '2nd'
 * ordinal(11); // '11th'
 */
export function ordinal(n: number): string {
  const teen = n % 100 >= 11 && n % 100 <= 13;
  const suffix = teen ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10];
  return `${n}${suffix ?? 'th'}`;
}

const OBSERVED: Record<ObservationKind, [string, string]> = {
  'auth-failure': ['request', 'refused as unauthorised (401/403, or a revoked or suspended key)'],
  'rejected-429': ['request', 'answered 429'],
  'malformed-4xx': ['malformed request', 'answered 4xx'],
  'non-public-attempt': ['API-key request', 'to a non-public route'],
};

export interface ReasonInput {
  readonly kind: ObservationKind;
  readonly count: number;
  readonly threshold: number;
  readonly windowMs: number;
  readonly offence: number;
  /** `IP 203.0.113.9` or `key k_123`. */
  readonly target: string;
  readonly action: SafeguardAction;
  readonly durationMs: number | undefined;
  readonly dryRun: boolean;
}

/**
 * The reason line of an action.
 *
 * @example
 * reason({ kind: 'rejected-429', count: 100, threshold: 100, windowMs: 60_000, offence: 2,
 *   target: 'key k1', action: 'suspend', durationMs: 86_400_000, dryRun: false });
 * // '100 requests answered 429 within 1 minute (threshold 100); 2nd offence of key k1, so it is suspended for 1 day'
 */
export function reason(r: ReasonInput): string {
  const [noun, what] = OBSERVED[r.kind];
  const is = r.dryRun ? 'would be' : 'is';
  const done =
    r.action === 'revoke'
      ? 'revoked'
      : `${r.action === 'block-ip' ? 'blocked' : 'suspended'} for ${humanDuration(r.durationMs ?? 0)}`;
  return (
    `${plural(r.count, noun)} ${what} within ${humanDuration(r.windowMs)} (threshold ${r.threshold}); ` +
    `${ordinal(r.offence)} offence of ${r.target}, so it ${is} ${done}` +
    (r.dryRun ? ' (dry run: nothing was done)' : '')
  );
}
