/**
 * Compiles `offHours`: weekly windows (`from`/`to`) and daily ones (`daily`, seven
 * weekly windows) into `WeeklyWindow`s, 24:00 being 00:00 of the next day.
 */
import { type Context, type Doc, list, read } from './compile-context.ts';
import { isMapping } from './merge.ts';
import type { PathSegment } from './problems.ts';
import { KINDS } from './schema.ts';
import type { OffHoursPolicy, WeeklyWindow } from './types.ts';
import { parseDailyRange, parseWeekTime } from './values.ts';

/** Minute 1440 (24:00) is minute 0 of the next day. */
function at(day: number, minute: number): { day: number; minute: number } {
  return minute >= 1440 ? { day: (day + 1) % 7, minute: minute - 1440 } : { day, minute };
}
function weekly(from: { day: number; minute: number }, to: typeof from): WeeklyWindow {
  const a = at(from.day, from.minute);
  const b = at(to.day, to.minute);
  return { fromDay: a.day, fromMinute: a.minute, toDay: b.day, toMinute: b.minute };
}

function compileWindow(w: Doc, path: PathSegment[], ctx: Context): WeeklyWindow[] {
  const weeklyKeys = w.from !== undefined || w.to !== undefined;
  if (w.daily !== undefined && weeklyKeys) {
    ctx.problems.add(path, 'a window has from and to, or daily, not both');
    return [];
  }
  if (w.daily !== undefined) {
    const daily = read(parseDailyRange, w.daily);
    if (daily === undefined) return [];
    const to = daily.to > daily.from ? daily.to : daily.to + 1440; // crosses midnight
    return [0, 1, 2, 3, 4, 5, 6].map((day) =>
      weekly({ day, minute: daily.from }, { day, minute: to }),
    );
  }
  if (w.from === undefined || w.to === undefined) {
    ctx.problems.add(
      path,
      'a window needs from and to (like from: "Sat 00:00", to: "Sun 20:00"), or daily (like daily: "01:00-03:00")',
    );
    return [];
  }
  const from = read(parseWeekTime, w.from);
  const to = read(parseWeekTime, w.to);
  if (from === undefined || to === undefined) return [];
  const window = weekly(from, to);
  if (window.fromDay === window.toDay && window.fromMinute === window.toMinute) {
    ctx.problems.add([...path, 'to'], 'from and to are the same time, so the window is empty');
  }
  return [window];
}

export function compileOffHours(o: Doc, ctx: Context): OffHoursPolicy {
  return {
    timeZone: read(KINDS.timeZone, o.timeZone),
    // Entries that are not mappings were reported by the schema: skip them.
    windows: list(o.windows).flatMap((w, i) =>
      isMapping(w) ? compileWindow(w, ['offHours', 'windows', i], ctx) : [],
    ),
    batchMultiplier: o.batchMultiplier,
    confineBatch: o.confineBatch,
  } as OffHoursPolicy;
}
