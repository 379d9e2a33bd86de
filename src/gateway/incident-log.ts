/**
 * What the incident recorder tells the operator: a log line for each new incident (a
 * flood logs one line, not a million), one per incident updated by a flush, and errors
 * of the journal and the store with their metric.
 *
 * @example
 * createIncidentRecorder({ store, clock, flushMs: 250, ...incidentLog(logger, metrics) });
 */
import type { IncidentRecorderHooks } from './incident-recorder.ts';
import type { GatewayLogger } from './logger.ts';
import type { GatewayMetrics } from './metrics.ts';

export function incidentLog(logger: GatewayLogger, metrics: GatewayMetrics): IncidentRecorderHooks {
  return {
    onJournalError(error) {
      metrics.storeErrors.inc({ operation: 'journal' });
      logger.error(
        { err: error },
        'writing the incident journal failed; new incidents are saved by the next flush only',
      );
    },
    onError(error, lost) {
      metrics.storeErrors.inc({ operation: 'incidents' });
      logger.error(
        { err: error, incidents: lost.length },
        'writing incidents failed; kept for the next try',
      );
    },
    onNew(i) {
      logger.info(
        {
          event: 'refused',
          reference: i.reference,
          rule: i.rule,
          ...i.subject,
          counters: i.counters,
        },
        'request refused: new incident',
      );
    },
    onFlushed(batch) {
      metrics.incidentsWritten.inc(batch.length);
      for (const i of batch) {
        if (i.count > 1) {
          logger.info(
            {
              event: 'incident',
              reference: i.reference,
              rule: i.rule,
              count: i.count,
              ...i.subject,
            },
            'requests refused (incident updated)',
          );
        }
      }
    },
  };
}
