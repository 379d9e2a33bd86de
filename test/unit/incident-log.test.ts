/**
 * What the incident recorder's hooks tell the operator (gateway/incident-log.ts): one
 * log line per new incident, one per incident a flush updated (none for an incident of
 * one request), the errors of the journal and the store, each with its metric.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Incident } from '../../src/core/records.ts';
import { incidentLog } from '../../src/gateway/incident-log.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import { createMetrics } from '../../src/gateway/metrics.ts';

function setup() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
  });
  const metrics = createMetrics({ defaults: false });
  return { lines, metrics, hooks: incidentLog(logger, metrics) };
}

/** A log line without pino's time and pid, as the operator reads its fields. */
const fields = ({ time: _t, pid: _p, hostname: _h, ...rest }: Record<string, unknown>) => rest;

const incident = (count: number, reference: string): Incident => ({
  reference,
  rule: 'ip-block',
  subject: { ip: '203.0.113.9', accountId: 'acme' },
  startedAt: 0,
  endedAt: 1,
  count,
  counters: { used: 5 },
  note: undefined,
});

async function counted(metrics: ReturnType<typeof createMetrics>) {
  const errors = await metrics.storeErrors.get();
  const written = await metrics.incidentsWritten.get();
  return {
    errors: Object.fromEntries(errors.values.map((v) => [v.labels.operation, v.value])),
    written: written.values[0]?.value ?? 0,
  };
}

test('a new incident: one info line with its reference, rule, subject and counters', () => {
  const { lines, hooks } = setup();
  const { reference, rule, subject, counters } = incident(1, 'RL-AAAA-0001');
  hooks.onNew?.({ reference, rule, subject, counters });
  assert.deepEqual(lines.map(fields), [
    {
      level: 30,
      name: 'sluice',
      event: 'refused',
      reference: 'RL-AAAA-0001',
      rule: 'ip-block',
      ip: '203.0.113.9',
      accountId: 'acme',
      counters: { used: 5 },
      msg: 'request refused: new incident',
    },
  ]);
});

test('a flush: the rows counted, one line per incident of more than one request', async () => {
  const { lines, metrics, hooks } = setup();
  hooks.onFlushed?.([
    incident(1, 'RL-AAAA-0001'),
    incident(2, 'RL-AAAA-0002'),
    incident(7, 'RL-AAAA-0003'),
  ]);
  assert.deepEqual(lines.map(fields), [
    {
      level: 30,
      name: 'sluice',
      event: 'incident',
      reference: 'RL-AAAA-0002',
      rule: 'ip-block',
      count: 2,
      ip: '203.0.113.9',
      accountId: 'acme',
      msg: 'requests refused (incident updated)',
    },
    {
      level: 30,
      name: 'sluice',
      event: 'incident',
      reference: 'RL-AAAA-0003',
      rule: 'ip-block',
      count: 7,
      ip: '203.0.113.9',
      accountId: 'acme',
      msg: 'requests refused (incident updated)',
    },
  ]);
  assert.equal((await counted(metrics)).written, 3);
});

test('journal and store errors: an error line each, counted by operation', async () => {
  const { lines, metrics, hooks } = setup();
  hooks.onJournalError?.(new Error('disk full'));
  hooks.onError(new Error('database is locked'), [
    incident(1, 'RL-AAAA-0001'),
    incident(4, 'RL-AAAA-0002'),
  ]);
  const seen = lines.map(fields);
  assert.deepEqual(
    seen.map(({ err, ...rest }) => ({ ...rest, message: (err as { message: string }).message })),
    [
      {
        level: 50,
        name: 'sluice',
        message: 'disk full',
        msg: 'writing the incident journal failed; new incidents are saved by the next flush only',
      },
      {
        level: 50,
        name: 'sluice',
        message: 'database is locked',
        incidents: 2,
        msg: 'writing incidents failed; kept for the next try',
      },
    ],
  );
  assert.deepEqual((await counted(metrics)).errors, { journal: 1, incidents: 1 });
});
