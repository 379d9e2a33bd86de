/**
 * Off-hours windows: weekly wall-clock windows in the policy's time zone, turned
 * into absolute instants (DST-correct), merged when they overlap or touch.
 *
 * Daylight-saving changes follow zoned-time.ts: a boundary that falls in a spring
 * gap moves to the moment of the change, one that falls in an autumn overlap takes
 * the first occurrence. So in New York the daily 01:00–03:00 window lasts one real
 * hour on the March change night and three on the November one.
 */
import type { OffHoursPolicy, WeeklyWindow } from '../policy/types.ts';
import { wallTimeAt, wallToUtc } from './zoned-time.ts';

/** An interval of absolute time: `start` inclusive, `end` exclusive (ms since the epoch). */
export interface Interval {
  readonly start: number;
  readonly end: number;
}

export interface OffHoursState {
  /** True when `now` lies inside a window. */
  readonly inWindow: boolean;
  /** The (merged) window `now` lies in. */
  readonly current?: Interval;
  /**
   * The next window starting strictly after `now` (after `current` ends, when in one).
   * Undefined only when the policy has no windows.
   */
  readonly next: Interval | undefined;
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
const WEEK_MINUTES = 7 * 1440;
const WEEK_MS = 7 * DAY_MS;
const DAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
/**
 * Weeks either side of `now` whose windows are laid out. Unless the windows cover
 * the whole week, a merged window is shorter than a week, so `current` starts less
 * than a week before `now` and `next` starts less than two weeks after.
 * (Windows covering the whole week yield one window truncated to this horizon.)
 */
const WEEKS_BEFORE = 2;
const WEEKS_AFTER = 3;

const mod = (a: number, n: number): number => ((a % n) + n) % n;

/** Start (minutes after Sunday 00:00) and length in minutes; zero-length windows are dropped. */
function spans(windows: readonly WeeklyWindow[]): { start: number; length: number }[] {
  const out: { start: number; length: number }[] = [];
  for (const w of windows) {
    const start = w.fromDay * 1440 + w.fromMinute;
    const length = mod(w.toDay * 1440 + w.toMinute - start, WEEK_MINUTES);
    if (length > 0) out.push({ start, length });
  }
  return out;
}

/** Appends `[start, end)`, merging with the last interval when they overlap or touch. */
function pushMerged(list: { start: number; end: number }[], start: number, end: number): void {
  const last = list[list.length - 1];
  if (last !== undefined && start <= last.end) last.end = Math.max(last.end, end);
  else list.push({ start, end });
}

function compute(policy: OffHoursPolicy, now: number): OffHoursState {
  const weekly = spans(policy.windows);
  if (weekly.length === 0) return Object.freeze({ inWindow: false, next: undefined });

  const wallNow = wallTimeAt(now, policy.timeZone);
  const dayNow = Math.floor(wallNow / DAY_MS);
  // 1970-01-01 was a Thursday (4): the wall reading of this week's Sunday 00:00.
  const sunday = (dayNow - mod(dayNow + 4, 7)) * DAY_MS;

  // Merge in wall-clock time first: fewer conversions to absolute time.
  const wall: { start: number; end: number }[] = [];
  for (let k = -WEEKS_BEFORE; k <= WEEKS_AFTER; k++) {
    for (const s of weekly) {
      const start = sunday + k * WEEK_MS + s.start * MINUTE_MS;
      wall.push({ start, end: start + s.length * MINUTE_MS });
    }
  }
  wall.sort((a, b) => a.start - b.start);
  const wallMerged: { start: number; end: number }[] = [];
  for (const w of wall) pushMerged(wallMerged, w.start, w.end);

  // Then convert. Conversion never reorders instants, but it can make two windows touch
  // (both edges in the same spring gap) or empty one (entirely in the gap): merge again.
  const real: { start: number; end: number }[] = [];
  for (const w of wallMerged) {
    // Offsets differ by less than a day, so anything ending two wall days ago is past.
    if (w.end < wallNow - 2 * DAY_MS) continue;
    const start = wallToUtc(w.start, policy.timeZone);
    const end = wallToUtc(w.end, policy.timeZone);
    if (end <= start) continue;
    pushMerged(real, start, end);
    // Once two windows start after now, the first of them can no longer grow.
    if (real.length >= 2 && real[real.length - 2].start > now) break;
  }

  const current = real.find((i) => i.start <= now && now < i.end);
  const next = real.find((i) => i.start > now);
  return Object.freeze({
    inWindow: current !== undefined,
    ...(current === undefined ? {} : { current: Object.freeze(current) }),
    next: next === undefined ? undefined : Object.freeze(next),
  });
}

interface Cached {
  readonly from: number;
  readonly until: number;
  readonly state: OffHoursState;
}

// The answer stays the same until the current window ends or the next begins, so a
// gateway asking on every request recomputes only at window edges. Keyed by the
// (frozen) policy object: a reload brings a new object and a fresh answer.
const cache = new WeakMap<OffHoursPolicy, Cached>();

/**
 * Where `now` stands relative to the policy's off-hours windows.
 *
 * @example
 * // Saturday 2026-03-07 12:00 in New York, default policy (Sat 00:00 – Sun 20:00):
 * offHoursAt(policy, Date.UTC(2026, 2, 7, 17, 0));
 * // { inWindow: true, current: { start: <Sat 00:00 EST>, end: <Sun 20:00 EDT> },
 * //   next: { start: <Mon 01:00 EDT>, end: <Mon 03:00 EDT> } }
 */
export function offHoursAt(policy: OffHoursPolicy, now: number): OffHoursState {
  const hit = cache.get(policy);
  if (hit !== undefined && now >= hit.from && now < hit.until) return hit.state;
  const state = compute(policy, now);
  const until = state.current?.end ?? state.next?.start ?? Number.POSITIVE_INFINITY;
  cache.set(policy, { from: now, until, state });
  return state;
}

/**
 * The factor batch budgets are multiplied by at `now`: the policy's multiplier inside
 * a window, else 1.
 *
 * @example
 * batchMultiplierAt({ ...policy, batchMultiplier: 4 }, saturdayNoon); // 4
 */
export function batchMultiplierAt(policy: OffHoursPolicy, now: number): number {
  return offHoursAt(policy, now).inWindow ? policy.batchMultiplier : 1;
}

/**
 * Whether a `batch` route may run at `now`: always, unless the policy confines batch
 * routes to the windows and `now` is outside them.
 *
 * @example
 * batchAllowedAt({ ...policy, confineBatch: true }, tuesdayNoon); // false
 */
export function batchAllowedAt(policy: OffHoursPolicy, now: number): boolean {
  return !policy.confineBatch || offHoursAt(policy, now).inWindow;
}

const hhmm = (minute: number): string =>
  `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;

/**
 * The windows in words, local time of the policy's zone; a window written once per
 * day of the week (and shorter than a day) shows as one `daily` line.
 *
 * @example
 * describeWindows(defaultOffHours); // ['Sat 00:00 – Sun 20:00', 'daily 01:00 – 03:00']
 */
export function describeWindows(policy: OffHoursPolicy): string[] {
  const days = new Map<string, Set<number>>();
  const shape = (w: WeeklyWindow) => `${w.fromMinute}/${w.toMinute}/${mod(w.toDay - w.fromDay, 7)}`;
  for (const w of policy.windows) {
    const set = days.get(shape(w)) ?? new Set<number>();
    set.add(w.fromDay);
    days.set(shape(w), set);
  }
  const out: string[] = [];
  const done = new Set<string>();
  for (const w of policy.windows) {
    const length = mod(
      w.toDay * 1440 + w.toMinute - (w.fromDay * 1440 + w.fromMinute),
      WEEK_MINUTES,
    );
    if (length === 0) continue;
    const key = shape(w);
    if (length < 1440 && days.get(key)?.size === 7) {
      if (!done.has(key)) out.push(`daily ${hhmm(w.fromMinute)} – ${hhmm(w.toMinute)}`);
      done.add(key);
    } else {
      out.push(
        `${DAY_NAMES[w.fromDay]} ${hhmm(w.fromMinute)} – ${DAY_NAMES[w.toDay]} ${hhmm(w.toMinute)}`,
      );
    }
  }
  return out;
}
