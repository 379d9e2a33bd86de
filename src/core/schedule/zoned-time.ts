/**
 * Wall-clock time in an IANA time zone, with `Intl.DateTimeFormat` only (no date
 * library, no Temporal). Two directions:
 *
 * - `localParts(ms, zone)`: what a clock on the wall in `zone` shows at instant `ms`;
 * - `zonedToUtc(parts, zone)`: the instant at which that wall clock shows `parts`.
 *
 * The second is not a function in the mathematical sense around daylight-saving
 * changes, so it picks, on purpose:
 * - **gap** (spring: 02:30 does not exist on the change day in New York): the first
 *   instant after the gap, i.e. the moment of the change (03:00 EDT). A window that
 *   should start or end inside the gap starts or ends when the clocks jump.
 * - **overlap** (autumn: 01:30 happens twice): the first occurrence (01:30 EDT).
 */

const DAY_MS = 86_400_000;

/** What a wall clock in some zone shows. `month` is 1–12, `weekday` 0 = Sunday … 6 = Saturday. */
export interface LocalParts {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly weekday: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
}

/** A wall-clock date and time to resolve in a zone. Fields overflow like `Date.UTC` (minute 1440 is the next day's 00:00). */
export interface LocalDateTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
}

// Creating a DateTimeFormat costs tens of microseconds; formatting with one costs a few.
// The cache holds only zones that resolved, so its size is bounded by the zone database.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone,
        // h23, not hour12:false: the latter prints midnight as "24" on some ICU versions.
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch (cause) {
      throw new RangeError(
        `unknown time zone "${timeZone}": use an IANA name like America/New_York`,
        { cause },
      );
    }
    formatters.set(timeZone, f);
  }
  return f;
}

/**
 * True when `timeZone` names a zone this runtime knows (IANA names such as
 * `Europe/Paris`, and `UTC`). Call it when validating a policy.
 *
 * @example
 * isValidTimeZone('America/New_York'); // true
 * isValidTimeZone('Mars/Olympus'); // false
 */
export function isValidTimeZone(timeZone: string): boolean {
  if (typeof timeZone !== 'string' || timeZone === '') return false;
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/**
 * The wall-clock reading, as if it were UTC, at instant `ms` (seconds precision,
 * milliseconds carried over). Subtracting `ms` gives the zone's offset at `ms`.
 */
export function wallTimeAt(ms: number, timeZone: string): number {
  const p = readParts(ms, timeZone);
  const ms1000 = ((ms % 1000) + 1000) % 1000;
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) + ms1000;
}

function readParts(ms: number, timeZone: string): Omit<LocalParts, 'weekday'> {
  const out = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const part of formatterFor(timeZone).formatToParts(ms)) {
    if (part.type in out) out[part.type as keyof typeof out] = Number(part.value);
  }
  return out;
}

/**
 * What a clock on the wall in `timeZone` shows at instant `ms`.
 *
 * @example
 * localParts(Date.UTC(2026, 2, 8, 7, 0), 'America/New_York');
 * // { year: 2026, month: 3, day: 8, weekday: 0, hour: 3, minute: 0, second: 0 }
 */
export function localParts(ms: number, timeZone: string): LocalParts {
  const p = readParts(ms, timeZone);
  // The weekday follows from the date; no need to ask Intl for a localised name.
  const weekday = new Date(Date.UTC(p.year, p.month - 1, p.day)).getUTCDay();
  return { ...p, weekday };
}

/**
 * The instant at which the wall clock in `timeZone` shows `local`.
 * In a spring-forward gap: the moment of the change (first instant after the gap).
 * In an autumn overlap: the first occurrence.
 *
 * @example
 * zonedToUtc({ year: 2026, month: 3, day: 8, hour: 2, minute: 30 }, 'America/New_York');
 * // Date.UTC(2026, 2, 8, 7, 0): 02:30 does not exist; 03:00 EDT is the first instant after
 */
export function zonedToUtc(local: LocalDateTime, timeZone: string): number {
  return wallToUtc(
    Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute),
    timeZone,
  );
}

/**
 * Same as `zonedToUtc`, with the wall-clock reading given as ms "as if UTC"
 * (e.g. `Date.UTC(2026, 2, 8, 2, 30)` for 02:30 on 8 March).
 */
export function wallToUtc(wall: number, timeZone: string): number {
  // The offsets a day either side bracket any single change (as Temporal does).
  const offBefore = wallTimeAt(wall - DAY_MS, timeZone) - (wall - DAY_MS);
  const offAfter = wallTimeAt(wall + DAY_MS, timeZone) - (wall + DAY_MS);
  const candidates: number[] = [];
  for (const offset of offBefore === offAfter ? [offBefore] : [offBefore, offAfter]) {
    const t = wall - offset;
    if (wallTimeAt(t, timeZone) === wall) candidates.push(t);
  }
  if (candidates.length > 0) return Math.min(...candidates); // overlap: first occurrence
  if (offAfter > offBefore) return firstInstantAfterGap(wall, offBefore, offAfter, timeZone);
  return wall - offBefore; // no change nearby resolves it (should not happen): best guess
}

/**
 * Binary search for the change: at `lo` the clock reads before `wall`, at `hi` after.
 * The wall reading is non-decreasing around a forward jump, so the first instant whose
 * reading passes `wall` is the change itself.
 */
function firstInstantAfterGap(
  wall: number,
  offBefore: number,
  offAfter: number,
  timeZone: string,
): number {
  let lo = wall - offAfter; // reads wall - (offAfter - offBefore): before the gap
  let hi = wall - offBefore; // reads wall + (offAfter - offBefore): after the gap
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (wallTimeAt(mid, timeZone) > wall) hi = mid;
    else lo = mid;
  }
  return hi;
}
