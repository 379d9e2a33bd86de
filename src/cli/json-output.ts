/**
 * What `--json` prints: one JSON line, with every time as an ISO 8601 string in UTC
 * (`2026-01-05T12:00:00.000Z`), as webhooks send them, instead of the milliseconds the
 * records hold. A time that is not set (a key never suspended, a block until lifted) is
 * `null`.
 *
 * @example
 * writeJson(io, { id: '7KQ4M9XT2B', createdAt: 1767614400000 });
 * // {"id":"7KQ4M9XT2B","createdAt":"2026-01-05T12:00:00.000Z"}
 */
import type { CliIo } from './io.ts';

/** The record fields that hold a time (ms since the epoch). */
const TIME_FIELDS = new Set([
  'at',
  'createdAt',
  'updatedAt',
  'suspendedUntil',
  'until',
  'startedAt',
  'endedAt',
]);

/** Fields whose contents are facts as recorded (an incident's counters), left as they are. */
const AS_RECORDED = new Set(['counters']);

/**
 * `value` with its time fields as ISO strings, at any depth.
 *
 * @example
 * withIsoTimes([{ until: undefined }]); // [{ until: null }]
 */
export function withIsoTimes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withIsoTimes);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(value)) {
    if (TIME_FIELDS.has(name) && (typeof field === 'number' || field == null)) {
      out[name] = typeof field === 'number' ? new Date(field).toISOString() : null;
    } else {
      out[name] = AS_RECORDED.has(name) ? field : withIsoTimes(field);
    }
  }
  return out;
}

/** Prints `value` as one JSON line with ISO times (see the file's comment). */
export function writeJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(withIsoTimes(value))}\n`);
}
