import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OffHoursPolicy, WeeklyWindow } from '../../src/core/policy/types.ts';
import {
  batchAllowedAt,
  batchMultiplierAt,
  describeWindows,
  offHoursAt,
} from '../../src/core/schedule/off-hours.ts';
import { localParts } from '../../src/core/schedule/zoned-time.ts';

const HOUR = 3_600_000;
const DAILY_1_TO_3: WeeklyWindow[] = [0, 1, 2, 3, 4, 5, 6].map((d) => ({
  fromDay: d,
  fromMinute: 60,
  toDay: d,
  toMinute: 180,
}));
const WEEKEND: WeeklyWindow = { fromDay: 6, fromMinute: 0, toDay: 0, toMinute: 20 * 60 };

/** The product's default: Saturday 00:00 → Sunday 20:00, and daily 01:00 → 03:00, New York. */
function policy(
  windows: WeeklyWindow[] = [WEEKEND, ...DAILY_1_TO_3],
  timeZone = 'America/New_York',
): OffHoursPolicy {
  return Object.freeze({ timeZone, windows, batchMultiplier: 4, confineBatch: true });
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const span = (s: { current?: { start: number; end: number } }) => [
  iso(s.current?.start),
  iso(s.current?.end),
];

test('Saturday 00:00 exactly is inside (start inclusive); a millisecond before is outside', () => {
  const p = policy();
  const saturday = Date.UTC(2026, 5, 13, 4, 0); // Sat 2026-06-13 00:00 EDT
  const at = offHoursAt(p, saturday);
  assert.equal(at.inWindow, true);
  assert.deepEqual(span(at), ['2026-06-13T04:00:00.000Z', '2026-06-15T00:00:00.000Z']);
  // Midnight between Friday and Saturday, from the Friday side.
  const before = offHoursAt(p, saturday - 1);
  assert.equal(before.inWindow, false);
  assert.equal(before.current, undefined);
  assert.equal(iso(before.next?.start), '2026-06-13T04:00:00.000Z');
  assert.equal(iso(before.next?.end), '2026-06-15T00:00:00.000Z');
});

test('Sunday 20:00 exactly is outside (end exclusive); next is Monday 01:00', () => {
  const p = policy();
  const sunday20 = Date.UTC(2026, 5, 15, 0, 0); // Sun 2026-06-14 20:00 EDT
  const at = offHoursAt(p, sunday20);
  assert.equal(at.inWindow, false);
  assert.equal(iso(at.next?.start), '2026-06-15T05:00:00.000Z');
  assert.equal(iso(at.next?.end), '2026-06-15T07:00:00.000Z');
  const inside = offHoursAt(p, sunday20 - 1);
  assert.equal(inside.inWindow, true);
  assert.equal(inside.current?.end, sunday20);
  // When in a window, next starts after the current one ends.
  assert.equal(iso(inside.next?.start), '2026-06-15T05:00:00.000Z');
});

test('daily windows inside the weekend merge into it (Saturday and Sunday 01:00–03:00)', () => {
  const p = policy();
  for (const t of [Date.UTC(2026, 5, 13, 6, 0), Date.UTC(2026, 5, 14, 6, 0)]) {
    const at = offHoursAt(p, t);
    assert.deepEqual(span(at), ['2026-06-13T04:00:00.000Z', '2026-06-15T00:00:00.000Z']);
  }
  // A weekday: the daily window alone, next is the following night.
  const wednesday = offHoursAt(p, Date.UTC(2026, 5, 17, 6, 0)); // Wed 02:00 EDT
  assert.deepEqual(span(wednesday), ['2026-06-17T05:00:00.000Z', '2026-06-17T07:00:00.000Z']);
  assert.equal(iso(wednesday.next?.start), '2026-06-18T05:00:00.000Z');
  // Friday 03:00 → next is the weekend at Saturday 00:00, not Saturday 01:00.
  const friday = offHoursAt(p, Date.UTC(2026, 5, 12, 7, 0));
  assert.equal(friday.inWindow, false);
  assert.deepEqual(
    [iso(friday.next?.start), iso(friday.next?.end)],
    span(offHoursAt(p, Date.UTC(2026, 5, 13, 4))),
  );
});

test('adjacent windows merge: Fri 22:00 – Sat 00:00 joins the weekend', () => {
  const p = policy([WEEKEND, { fromDay: 5, fromMinute: 22 * 60, toDay: 6, toMinute: 0 }], 'UTC');
  const at = offHoursAt(p, Date.UTC(2026, 5, 12, 23, 0));
  assert.deepEqual(span(at), ['2026-06-12T22:00:00.000Z', '2026-06-14T20:00:00.000Z']);
});

test('March change night (2026-03-08, 02:00 → 03:00): daily 01:00–03:00 lasts one real hour', () => {
  const p = policy(DAILY_1_TO_3);
  const at = offHoursAt(p, Date.UTC(2026, 2, 8, 6, 30)); // 01:30 EST
  assert.deepEqual(span(at), ['2026-03-08T06:00:00.000Z', '2026-03-08T07:00:00.000Z']);
  assert.equal(at.current!.end - at.current!.start, 1 * HOUR);
  // The instant of the change is 03:00 EDT: outside.
  assert.equal(offHoursAt(p, Date.UTC(2026, 2, 8, 7, 0)).inWindow, false);
  // The next night is in EDT.
  assert.equal(iso(at.next?.start), '2026-03-09T05:00:00.000Z');
  // With the default policy the night lies inside the weekend, which is 43 real hours long.
  const weekend = offHoursAt(policy(), Date.UTC(2026, 2, 8, 6, 30));
  assert.deepEqual(span(weekend), ['2026-03-07T05:00:00.000Z', '2026-03-09T00:00:00.000Z']);
  assert.equal(weekend.current!.end - weekend.current!.start, 43 * HOUR);
});

test('November change night (2026-11-01, 02:00 → 01:00): daily 01:00–03:00 lasts three real hours', () => {
  const p = policy(DAILY_1_TO_3);
  for (const t of [Date.UTC(2026, 10, 1, 5, 30), Date.UTC(2026, 10, 1, 6, 30)]) {
    // 01:30 EDT and 01:30 EST: the same window.
    const at = offHoursAt(p, t);
    assert.deepEqual(span(at), ['2026-11-01T05:00:00.000Z', '2026-11-01T08:00:00.000Z']);
    assert.equal(at.current!.end - at.current!.start, 3 * HOUR);
  }
  const weekend = offHoursAt(policy(), Date.UTC(2026, 10, 1, 12));
  assert.equal(weekend.current!.end - weekend.current!.start, 45 * HOUR);
});

test('a window wrapping the end of the week (Sat 22:00 → Sun 02:00), seen from Sunday', () => {
  const p = policy([{ fromDay: 6, fromMinute: 22 * 60, toDay: 0, toMinute: 120 }], 'UTC');
  const sunday1am = offHoursAt(p, Date.UTC(2026, 5, 14, 1, 0));
  assert.deepEqual(span(sunday1am), ['2026-06-13T22:00:00.000Z', '2026-06-14T02:00:00.000Z']);
  assert.equal(iso(sunday1am.next?.start), '2026-06-20T22:00:00.000Z');
  assert.equal(offHoursAt(p, Date.UTC(2026, 5, 14, 2, 0)).inWindow, false);
});

test('a window crossing midnight into Monday (Sun 22:00 → Mon 02:00)', () => {
  const p = policy([{ fromDay: 0, fromMinute: 22 * 60, toDay: 1, toMinute: 120 }], 'UTC');
  const monday = offHoursAt(p, Date.UTC(2026, 5, 15, 1, 59));
  assert.deepEqual(span(monday), ['2026-06-14T22:00:00.000Z', '2026-06-15T02:00:00.000Z']);
  const sunday = offHoursAt(p, Date.UTC(2026, 5, 14, 21, 59));
  assert.equal(sunday.inWindow, false);
  assert.equal(iso(sunday.next?.start), '2026-06-14T22:00:00.000Z');
});

test('half-hour offset: Kolkata 01:00–03:00 is 19:30–21:30 UTC the day before', () => {
  const p = policy(DAILY_1_TO_3, 'Asia/Kolkata');
  const at = offHoursAt(p, Date.UTC(2026, 5, 16, 20, 0));
  assert.deepEqual(span(at), ['2026-06-16T19:30:00.000Z', '2026-06-16T21:30:00.000Z']);
  assert.equal(offHoursAt(p, Date.UTC(2026, 5, 16, 21, 30)).inWindow, false);
});

test('Sydney: the weekend of the April change (03:00 → 02:00) lasts 45 hours', () => {
  const at = offHoursAt(policy(undefined, 'Australia/Sydney'), Date.UTC(2026, 3, 4, 12));
  // Sat 2026-04-04 00:00 AEDT (+11) → Sun 2026-04-05 20:00 AEST (+10).
  assert.deepEqual(span(at), ['2026-04-03T13:00:00.000Z', '2026-04-05T10:00:00.000Z']);
});

test('UTC: the weekend is 44 hours every week', () => {
  const at = offHoursAt(policy(undefined, 'UTC'), Date.UTC(2026, 2, 8, 12));
  assert.deepEqual(span(at), ['2026-03-07T00:00:00.000Z', '2026-03-08T20:00:00.000Z']);
});

/** Independent oracle: is the local weekly minute inside one of the windows? */
function oracle(p: OffHoursPolicy, t: number): boolean {
  const l = localParts(t, p.timeZone);
  const m = l.weekday * 1440 + l.hour * 60 + l.minute;
  return p.windows.some((w) => {
    const from = w.fromDay * 1440 + w.fromMinute;
    const len = (((w.toDay * 1440 + w.toMinute - from) % 10080) + 10080) % 10080;
    return (((m - from) % 10080) + 10080) % 10080 < len;
  });
}

test('agrees with a wall-clock oracle every 10 minutes across both New York changes and in other zones', () => {
  const cases: [string, number][] = [
    ['America/New_York', Date.UTC(2026, 1, 28)],
    ['America/New_York', Date.UTC(2026, 9, 24)],
    ['Australia/Sydney', Date.UTC(2026, 2, 28)],
    ['Australia/Sydney', Date.UTC(2026, 8, 26)],
    ['Asia/Kolkata', Date.UTC(2026, 5, 1)],
    ['UTC', Date.UTC(2026, 5, 1)],
  ];
  for (const [zone, from] of cases) {
    const p = policy(undefined, zone);
    for (let t = from; t < from + 21 * 24 * HOUR; t += 10 * 60_000) {
      const s = offHoursAt(p, t);
      const where = `${zone} at ${iso(t)}`;
      assert.equal(s.inWindow, oracle(p, t), where);
      assert.ok(s.next !== undefined && s.next.start > t, where);
      if (s.current) {
        assert.ok(s.current.start <= t && t < s.current.end, where);
        assert.equal(oracle(p, s.current.start - 1), false, `${where}: starts too late`);
        assert.equal(oracle(p, s.current.end), false, `${where}: ends too early`);
        assert.ok(s.next.start > s.current.end, where);
      }
      assert.equal(oracle(p, s.next.start), true, where);
      assert.equal(oracle(p, s.next.start - 1), false, where);
      // The cache answers exactly what a fresh computation does (sampled: it costs more).
      if (t % (2 * HOUR) === 0) assert.deepEqual(s, offHoursAt({ ...p }, t), where);
    }
  }
});

test('no windows: never inside, no next', () => {
  const at = offHoursAt(policy([]), Date.UTC(2026, 5, 13));
  assert.deepEqual(at, { inWindow: false, next: undefined });
});

test('batch multiplier and confinement follow the windows', () => {
  const p = policy();
  const saturday = Date.UTC(2026, 5, 13, 16);
  const tuesday = Date.UTC(2026, 5, 16, 16);
  assert.equal(batchMultiplierAt(p, saturday), 4);
  assert.equal(batchMultiplierAt(p, tuesday), 1);
  assert.equal(batchAllowedAt(p, saturday), true);
  assert.equal(batchAllowedAt(p, tuesday), false);
  assert.equal(batchAllowedAt({ ...p, confineBatch: false }, tuesday), true);
});

test('describeWindows: one line per window, daily when written for every day', () => {
  assert.deepEqual(describeWindows(policy()), ['Sat 00:00 – Sun 20:00', 'daily 01:00 – 03:00']);
  const weekdays = DAILY_1_TO_3.filter((w) => w.fromDay >= 1 && w.fromDay <= 5);
  assert.deepEqual(describeWindows(policy(weekdays)), [
    'Mon 01:00 – Mon 03:00',
    'Tue 01:00 – Tue 03:00',
    'Wed 01:00 – Wed 03:00',
    'Thu 01:00 – Thu 03:00',
    'Fri 01:00 – Fri 03:00',
  ]);
  const nightly = [0, 1, 2, 3, 4, 5, 6].map((d) => ({
    fromDay: d,
    fromMinute: 23 * 60,
    toDay: (d + 1) % 7,
    toMinute: 90,
  }));
  assert.deepEqual(describeWindows(policy(nightly)), ['daily 23:00 – 01:30']);
  assert.deepEqual(
    describeWindows(policy([{ fromDay: 5, fromMinute: 1080, toDay: 5, toMinute: 1440 }])),
    ['Fri 18:00 – Fri 24:00'],
  );
});

test('a window entirely inside the spring gap does not exist that night: next is the night after', () => {
  // Daily 02:10–02:40 in New York: on 2026-03-08 both edges fall in the 02:00 → 03:00 gap.
  const daily = [0, 1, 2, 3, 4, 5, 6].map((d) => ({
    fromDay: d,
    fromMinute: 130,
    toDay: d,
    toMinute: 160,
  }));
  const at = offHoursAt(policy(daily), Date.UTC(2026, 2, 8, 6, 0)); // 01:00 EST
  assert.equal(at.inWindow, false);
  assert.equal(iso(at.next?.start), '2026-03-09T06:10:00.000Z'); // 02:10 EDT on Monday
});

test('two windows that touch only once the spring gap has swallowed the time between them merge', () => {
  // Sunday 01:00–02:10 and 02:50–04:00 in New York: on 2026-03-08 02:10 and 02:50 both
  // become 03:00 EDT, the change, so the two are one window 01:00 EST – 04:00 EDT.
  const windows = [
    { fromDay: 0, fromMinute: 60, toDay: 0, toMinute: 130 },
    { fromDay: 0, fromMinute: 170, toDay: 0, toMinute: 240 },
  ];
  const saturday = offHoursAt(policy(windows), Date.UTC(2026, 2, 7, 17, 0));
  assert.equal(iso(saturday.next?.start), '2026-03-08T06:00:00.000Z');
  assert.equal(iso(saturday.next?.end), '2026-03-08T08:00:00.000Z');
  // Seen from the first instant of a window just before them: still one window next.
  const before = [
    ...windows,
    { fromDay: 6, fromMinute: 23 * 60, toDay: 6, toMinute: 23 * 60 + 30 },
  ];
  const at = offHoursAt(policy(before), Date.UTC(2026, 2, 8, 4, 0)); // Sat 23:00 EST
  assert.equal(iso(at.current?.start), '2026-03-08T04:00:00.000Z');
  assert.equal(iso(at.next?.start), '2026-03-08T06:00:00.000Z');
  assert.equal(iso(at.next?.end), '2026-03-08T08:00:00.000Z');
});

test('the next window includes what touches it in the week after', () => {
  // Saturday 00:00 – Sunday 00:00, then Sunday 00:00 – 06:00: one window Sat 00:00 – Sun 06:00.
  const windows = [
    { fromDay: 6, fromMinute: 0, toDay: 0, toMinute: 0 },
    { fromDay: 0, fromMinute: 0, toDay: 0, toMinute: 360 },
  ];
  const at = offHoursAt(policy(windows, 'UTC'), Date.UTC(2026, 5, 13, 1, 0)); // Sat 01:00
  assert.deepEqual(span(at), ['2026-06-13T00:00:00.000Z', '2026-06-14T06:00:00.000Z']);
  assert.equal(iso(at.next?.start), '2026-06-20T00:00:00.000Z');
  assert.equal(iso(at.next?.end), '2026-06-21T06:00:00.000Z');
});

test('describeWindows: whole days and empty windows, and windows of the same hours but not the same days', () => {
  const wholeDays = [0, 1, 2, 3, 4, 5, 6].map((d) => ({
    fromDay: d,
    fromMinute: 0,
    toDay: (d + 1) % 7,
    toMinute: 0,
  }));
  assert.equal(describeWindows(policy(wholeDays)).length, 7, 'a 24-hour window is not "daily"');
  assert.deepEqual(
    describeWindows(policy([{ fromDay: 1, fromMinute: 600, toDay: 1, toMinute: 600 }, WEEKEND])),
    ['Sat 00:00 – Sun 20:00'],
  );
  // 01:00–03:00 on six days, and Saturday 01:00 – Sunday 03:00: not "daily 01:00 – 03:00".
  const mixed = [
    ...DAILY_1_TO_3.filter((w) => w.fromDay !== 6),
    { fromDay: 6, fromMinute: 60, toDay: 0, toMinute: 180 },
  ];
  assert.deepEqual(describeWindows(policy(mixed)), [
    'Sun 01:00 – Sun 03:00',
    'Mon 01:00 – Mon 03:00',
    'Tue 01:00 – Tue 03:00',
    'Wed 01:00 – Wed 03:00',
    'Thu 01:00 – Thu 03:00',
    'Fri 01:00 – Fri 03:00',
    'Sat 01:00 – Sun 03:00',
  ]);
});

test('outside a window the state has no current window at all, not an undefined one', () => {
  const at = offHoursAt(policy(), Date.UTC(2026, 5, 16, 16)); // Tuesday noon in New York
  assert.equal(at.inWindow, false);
  assert.equal('current' in at, false);
});
