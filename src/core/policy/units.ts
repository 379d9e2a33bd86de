/**
 * Rates (`100/min`, `1/30d`) and durations (`30s`, `2h`, `250ms`, `1h30m`) as people
 * write them in a policy file, and back. Parsing never throws: it answers a value or
 * a message in plain words, so the policy compiler can report every mistake at once.
 */
import { quote } from '../echo.ts';
import type { Rate } from './types.ts';

/** A parse result: the value, or why the text is not one. */
export type Parsed<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly message: string };

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

/**
 * The longest duration sluice accepts anywhere: ten years. Blocks and suspensions are
 * end times, and a date past year 275760 does not exist; ten years is long past any
 * sensible setting and far from that.
 */
export const MAX_DURATION_MS = 3650 * DAY;
/**
 * The largest count of a rate: 1e9 per period. RateLimit headers carry counts as
 * structured-field integers (at most 15 digits), and a budget of a billion requests
 * per period is already no limit; anything above is a typo or a probe.
 */
export const MAX_RATE_COUNT = 1_000_000_000;

/** Every unit name people may write, in milliseconds. `m` is minutes, never months. */
const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: SECOND,
  sec: SECOND,
  second: SECOND,
  seconds: SECOND,
  m: MINUTE,
  min: MINUTE,
  minute: MINUTE,
  minutes: MINUTE,
  h: HOUR,
  hour: HOUR,
  hours: HOUR,
  d: DAY,
  day: DAY,
  days: DAY,
  w: WEEK,
  week: WEEK,
  weeks: WEEK,
};

const UNIT_HINT = 'use ms, s, m (or min), h, d or w';
const TOO_LONG = 'a duration is at most 3650d (ten years)';

/** Largest unit first: formatting picks the largest one that divides exactly. */
const DURATION_UNITS: readonly [string, number][] = [
  ['w', WEEK],
  ['d', DAY],
  ['h', HOUR],
  ['m', MINUTE],
  ['s', SECOND],
  ['ms', 1],
];
/** Rates say `min`, as in `100/min`, which reads better than `100/m`. */
const RATE_UNITS: readonly [string, number][] = DURATION_UNITS.map(([u, ms]) => [
  u === 'm' ? 'min' : u,
  ms,
]);

/** Describes any YAML value in a message: strings quoted, collections by kind. */
export function show(value: unknown): string {
  if (typeof value === 'string') return quote(value);
  if (value === null || value === undefined) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

const DURATION_PART = /(\d+(?:\.\d+)?)\s*([a-z]+)/gy;

/**
 * Parses a duration: a number and a unit, or several (`1h30m`).
 *
 * @example
 * parseDuration('30s'); // { ok: true, value: 30000 }
 * parseDuration('2 hours'); // { ok: true, value: 7200000 }
 */
export function parseDuration(value: unknown): Parsed<number> {
  const bad = `${show(value)} is not a duration: write a number and a unit, for example 30s, 15m, 2h or 30d`;
  if (typeof value !== 'string') return { ok: false, message: bad };
  const text = value.trim().toLowerCase();
  if (text === '') return { ok: false, message: bad };
  let ms = 0;
  DURATION_PART.lastIndex = 0;
  let at = 0;
  for (;;) {
    const m = DURATION_PART.exec(text);
    if (m === null) break;
    const unit = UNIT_MS[m[2]];
    if (unit === undefined) {
      return {
        ok: false,
        message: `${show(value)} is not a duration: ${quote(m[2])} is not a unit (${UNIT_HINT})`,
      };
    }
    ms += Number(m[1]) * unit;
    at = DURATION_PART.lastIndex;
    while (text[at] === ' ') at++;
    DURATION_PART.lastIndex = at;
  }
  if (at !== text.length || at === 0) return { ok: false, message: bad };
  if (ms > MAX_DURATION_MS) {
    return { ok: false, message: `${show(value)} is too long: ${TOO_LONG}` };
  }
  return { ok: true, value: Math.round(ms) };
}

const RATE = /^(\d+(?:\.\d+)?)\s*\/\s*(.+)$/;

/**
 * Parses a rate `COUNT/PERIOD`; the period is a unit (`min`) or a duration (`30d`).
 *
 * @example
 * parseRate('100/min'); // { ok: true, value: { limit: 100, periodMs: 60000 } }
 * parseRate('1/30d'); // { ok: true, value: { limit: 1, periodMs: 2592000000 } }
 */
export function parseRate(value: unknown): Parsed<Rate> {
  const bad = `${show(value)} is not a rate: write COUNT/UNIT, for example 100/min`;
  if (typeof value !== 'string') return { ok: false, message: bad };
  const m = RATE.exec(value.trim().toLowerCase());
  if (m === null) return { ok: false, message: bad };
  const period = m[2].trim();
  const unitOnly = UNIT_MS[period];
  let periodMs: number;
  if (unitOnly !== undefined) {
    periodMs = unitOnly;
  } else {
    const d = parseDuration(period);
    if (!d.ok && d.message.endsWith(TOO_LONG)) {
      return { ok: false, message: `${show(value)} has a period that is too long: ${TOO_LONG}` };
    }
    if (!d.ok) {
      const word = /^\d*(?:\.\d+)?\s*([a-z]+)$/.exec(period)?.[1];
      const why = word === undefined ? '' : `: ${quote(word)} is not a unit (${UNIT_HINT})`;
      return { ok: false, message: why ? `${show(value)} is not a rate${why}` : bad };
    }
    periodMs = d.value;
  }
  if (periodMs <= 0) return { ok: false, message: `${show(value)} is not a rate: its period is 0` };
  const limit = Number(m[1]);
  if (limit > MAX_RATE_COUNT) {
    return {
      ok: false,
      message: `${show(value)} is more than sluice counts: at most ${MAX_RATE_COUNT} per period (RateLimit headers carry the count as a whole number)`,
    };
  }
  return { ok: true, value: { limit, periodMs } };
}

function largestUnit(ms: number, units: readonly [string, number][]): [string, number] {
  for (const [name, size] of units) if (ms % size === 0) return [name, ms / size];
  return ['ms', ms];
}

/**
 * Formats milliseconds with the largest unit that divides them exactly.
 *
 * @example
 * formatDuration(90_000); // '90s'
 * formatDuration(86_400_000); // '1d'
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const [unit, count] = largestUnit(Math.round(ms), DURATION_UNITS);
  return `${count}${unit}`;
}

/**
 * Formats a rate the way people write it; `parseRate(formatRate(r))` gives `r` back.
 * A fractional limit (from normalising `1/2min` to a per-minute period) is written
 * over a longer period instead: `{ limit: 0.5, periodMs: 60000 }` → `1/2min`.
 *
 * @example
 * formatRate({ limit: 100, periodMs: 60_000 }); // '100/min'
 * formatRate({ limit: 1, periodMs: 30 * 86_400_000 }); // '1/30d'
 */
export function formatRate(rate: Rate): string {
  let { limit, periodMs } = rate;
  if (!Number.isInteger(limit)) {
    for (let k = 2; k <= 1000; k++) {
      const scaled = limit * k;
      if (Math.abs(scaled - Math.round(scaled)) < 1e-9) {
        limit = Math.round(scaled);
        periodMs *= k;
        break;
      }
    }
  }
  const [unit, count] = largestUnit(Math.round(periodMs), RATE_UNITS);
  const shown = Number.isInteger(limit) ? String(limit) : String(Number(limit.toPrecision(6)));
  return `${shown}/${count === 1 ? '' : count}${unit}`;
}

/** Byte units people may write; `KB` is 1000 bytes and `KiB` 1024, as on a disk label. */
const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1_000,
  mb: 1_000_000,
  gb: 1_000_000_000,
  kib: 1_024,
  mib: 1_048_576,
  gib: 1_073_741_824,
};

/**
 * Parses a size in bytes: a whole number (bytes) or a number and a unit.
 *
 * @example
 * parseSize('1MiB'); // { ok: true, value: 1048576 }
 * parseSize(4096); // { ok: true, value: 4096 }
 */
export function parseSize(value: unknown): Parsed<number> {
  const bad = `${show(value)} is not a size: write a number and a unit, for example 64KiB or 1MiB`;
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 0
      ? { ok: true, value }
      : { ok: false, message: bad };
  }
  if (typeof value !== 'string') return { ok: false, message: bad };
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(value.trim().toLowerCase());
  if (m === null) return { ok: false, message: bad };
  const unit = SIZE_UNITS[m[2] === '' ? 'b' : m[2]];
  if (unit === undefined) {
    return {
      ok: false,
      message: `${show(value)} is not a size: "${m[2]}" is not a unit (use B, KiB, MiB, GiB, KB, MB or GB)`,
    };
  }
  return { ok: true, value: Math.round(Number(m[1]) * unit) };
}

/**
 * Formats bytes with the largest binary unit that divides them exactly.
 *
 * @example
 * formatSize(1_048_576); // '1MiB'
 */
export function formatSize(bytes: number): string {
  for (const unit of ['GiB', 'MiB', 'KiB'] as const) {
    const size = SIZE_UNITS[unit.toLowerCase()];
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}
