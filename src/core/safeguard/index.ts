/** Safeguards: rules that turn observed behaviour into actions (block, suspend, revoke). */

export { humanDuration, ordinal, reason } from '../../words/safeguard.ts';
export { BoundedMap } from './bounded-map.ts';
export {
  DEFAULT_HISTORY_MS,
  escalate,
  FALLBACK_DURATION_MS,
  type OffenceRecord,
} from './escalation.ts';
export { createSafeguards, type Safeguards, type SafeguardsOptions } from './observer.ts';
export { addOne, newCount, type SlidingCount } from './sliding-count.ts';
export {
  MemoryTally,
  quietAfter,
  type SafeguardTally,
  type TallyResult,
  type TallyStep,
} from './tally.ts';
export {
  type Action,
  OBSERVATION_KINDS,
  type ObservationKind,
  RULE_FOR_KIND,
  RULE_IDS,
  type SafeguardRuleName,
} from './types.ts';
