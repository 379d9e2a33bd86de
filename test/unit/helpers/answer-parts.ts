/**
 * The real parts a stage test answers with: an incident recorder over a record store (a
 * save error fails the test; closed after it) and the answer stage on top of it, with
 * real metrics and the logger given.
 */
import assert from 'node:assert/strict';
import type { Clock } from '../../../src/core/clock.ts';
import {
  createIncidentRecorder,
  type IncidentRecorder,
} from '../../../src/gateway/incident-recorder.ts';
import { createLogger, type GatewayLogger } from '../../../src/gateway/logger.ts';
import { createMetrics, type GatewayMetrics } from '../../../src/gateway/metrics.ts';
import { type Answer, createAnswer } from '../../../src/gateway/stages/answer.ts';
import type { RecordStore } from '../../../src/store/types.ts';

type IncidentStore = Pick<RecordStore, 'getIncident' | 'saveIncidents'>;

interface After {
  after(fn: () => Promise<void>): void;
}

/** The incident recorder of a test: its timer (a minute) never fires in one; closed after it. */
export function testIncidents(t: After, store: IncidentStore, clock: Clock): IncidentRecorder {
  const incidents = createIncidentRecorder({
    store,
    clock,
    flushMs: 60_000,
    onError: (error) => assert.fail(String(error)),
  });
  t.after(() => incidents.close());
  return incidents;
}

/** The answer stage over `testIncidents`; the safeguards hear nothing. */
export function testAnswer(
  t: After,
  parts: { store: IncidentStore; clock: Clock; logger?: GatewayLogger; metrics?: GatewayMetrics },
): { incidents: IncidentRecorder; answer: Answer } {
  const incidents = testIncidents(t, parts.store, parts.clock);
  const answer = createAnswer({
    incidents,
    logger: parts.logger ?? createLogger({ level: 'silent' }),
    metrics: parts.metrics ?? createMetrics({ defaults: false }),
    observe: () => {},
  });
  return { incidents, answer };
}
