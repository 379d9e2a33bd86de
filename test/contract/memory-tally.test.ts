import { MemoryTally } from '../../src/core/safeguard/tally.ts';
import { runTallyContract } from './safeguard-tally.contract.ts';

runTallyContract('memory', () => new MemoryTally({ maxSubjects: 1_000, maxOffenders: 1_000 }));
