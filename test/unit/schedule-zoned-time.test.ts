import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  isValidTimeZone,
  localParts,
  wallTimeAt,
  wallToUtc,
  zonedToUtc,
} from '../../src/core/schedule/zoned-time.ts';

const NY = 'America/New_York';
const SYDNEY = 'Australia/Sydney';
const iso = (ms: number) => new Date(ms).toISOString();

test('localParts reads the wall clock, weekday included', () => {
  // 2026-03-08T07:00Z is the New York change instant: 03:00 EDT on a Sunday.
  assert.deepEqual(localParts(Date.UTC(2026, 2, 8, 7, 0, 0), NY), {
    year: 2026,
    month: 3,
    day: 8,
    weekday: 0,
    hour: 3,
    minute: 0,
    second: 0,
  });
  // One millisecond before, still 01:59:59 EST.
  const before = localParts(Date.UTC(2026, 2, 8, 7, 0, 0) - 1, NY);
  assert.deepEqual([before.hour, before.minute, before.second], [1, 59, 59]);
  // Midnight reads 0, not 24.
  assert.equal(localParts(Date.UTC(2026, 5, 13, 4, 0), NY).hour, 0);
  assert.equal(localParts(Date.UTC(2026, 5, 13, 4, 0), NY).weekday, 6);
  // Half-hour offset: 00:00Z is 05:30 in Kolkata.
  const k = localParts(Date.UTC(2026, 0, 1, 0, 0), 'Asia/Kolkata');
  assert.deepEqual([k.day, k.hour, k.minute, k.weekday], [1, 5, 30, 4]);
  const u = localParts(Date.UTC(2026, 0, 3, 23, 59, 59), 'UTC');
  assert.deepEqual([u.day, u.hour, u.minute, u.second, u.weekday], [3, 23, 59, 59, 6]);
});

test('wallTimeAt gives the offset, milliseconds carried', () => {
  const t = Date.UTC(2026, 6, 1, 12, 0, 0, 250);
  assert.equal(wallTimeAt(t, NY) - t, -4 * 3_600_000);
  assert.equal(wallTimeAt(t, 'Asia/Kolkata') - t, 5.5 * 3_600_000);
  assert.equal(wallTimeAt(Date.UTC(2026, 0, 1), SYDNEY) - Date.UTC(2026, 0, 1), 11 * 3_600_000);
});

test('zonedToUtc inverts localParts away from changes', () => {
  for (const zone of [NY, SYDNEY, 'Asia/Kolkata', 'UTC', 'Europe/London']) {
    for (let t = Date.UTC(2026, 0, 1); t < Date.UTC(2027, 0, 1); t += 7 * 86_400_000 + 3_600_000) {
      const p = localParts(t, zone);
      const back = zonedToUtc(p, zone);
      // Whole minutes: the seconds are not part of the input.
      assert.equal(back, t - (t % 60_000), `${zone} at ${iso(t)}`);
    }
  }
});

test('spring gap (New York, 2026-03-08 02:00 → 03:00) resolves to the moment of the change', () => {
  const change = Date.UTC(2026, 2, 8, 7, 0);
  const at = (hour: number, minute: number) =>
    zonedToUtc({ year: 2026, month: 3, day: 8, hour, minute }, NY);
  assert.equal(at(2, 0), change);
  assert.equal(at(2, 30), change);
  assert.equal(at(2, 59), change);
  assert.equal(at(3, 0), change);
  assert.equal(at(1, 59), Date.UTC(2026, 2, 8, 6, 59));
  assert.equal(at(3, 1), change + 60_000);
  assert.equal(at(1, 0), Date.UTC(2026, 2, 8, 6, 0));
});

test('autumn overlap (New York, 2026-11-01 02:00 → 01:00) takes the first occurrence', () => {
  const at = (hour: number, minute: number) =>
    zonedToUtc({ year: 2026, month: 11, day: 1, hour, minute }, NY);
  assert.equal(iso(at(1, 0)), '2026-11-01T05:00:00.000Z'); // 01:00 EDT, not EST
  assert.equal(iso(at(1, 30)), '2026-11-01T05:30:00.000Z');
  assert.equal(iso(at(1, 59)), '2026-11-01T05:59:00.000Z');
  assert.equal(iso(at(2, 0)), '2026-11-01T07:00:00.000Z'); // 02:00 EST
  assert.equal(iso(at(0, 59)), '2026-11-01T04:59:00.000Z');
  // Between the two: 01:00–03:00 lasts three real hours that night.
  assert.equal(at(3, 0) - at(1, 0), 3 * 3_600_000);
});

test('southern hemisphere: Sydney gap in October, overlap in April', () => {
  const gap = zonedToUtc({ year: 2026, month: 10, day: 4, hour: 2, minute: 30 }, SYDNEY);
  assert.equal(iso(gap), '2026-10-03T16:00:00.000Z'); // 03:00 AEDT, the change
  const overlap = zonedToUtc({ year: 2026, month: 4, day: 5, hour: 2, minute: 30 }, SYDNEY);
  assert.equal(iso(overlap), '2026-04-04T15:30:00.000Z'); // 02:30 AEDT, the first of two
});

test('fields overflow like Date.UTC: minute 1440 is the next midnight', () => {
  assert.equal(
    zonedToUtc({ year: 2026, month: 6, day: 13, hour: 0, minute: 1440 }, NY),
    zonedToUtc({ year: 2026, month: 6, day: 14, hour: 0, minute: 0 }, NY),
  );
});

test('isValidTimeZone accepts IANA names and UTC, refuses the rest', () => {
  for (const tz of [NY, 'UTC', 'Asia/Kolkata', SYDNEY, 'america/new_york']) {
    assert.equal(isValidTimeZone(tz), true, tz);
  }
  for (const tz of ['Mars/Olympus', '', 'America/New York', 'EST5EDT6']) {
    assert.equal(isValidTimeZone(tz), false, tz);
  }
  // Not a string (a policy value of the wrong type): Intl would take undefined for the
  // machine's own zone.
  for (const tz of [undefined, null, 42]) {
    assert.equal(isValidTimeZone(tz as unknown as string), false, String(tz));
  }
  assert.throws(() => localParts(0, 'Mars/Olympus'), /unknown time zone "Mars\/Olympus"/);
  // The runtime's own error is kept as the cause, for whoever debugs an odd ICU.
  assert.throws(
    () => localParts(0, 'Mars/Olympus'),
    (e: Error) => e instanceof RangeError && e.cause instanceof RangeError,
  );
});

test('wallTimeAt before 1970: the milliseconds are carried forward, not back', () => {
  assert.equal(wallTimeAt(-1, 'UTC'), -1);
  assert.equal(wallTimeAt(-1_500, 'UTC'), -1_500);
  assert.equal(
    wallTimeAt(Date.UTC(1969, 6, 20, 20, 17, 40, 250), NY),
    Date.UTC(1969, 6, 20, 16, 17, 40, 250),
  );
});

test('every wall time in a spring gap, to the millisecond, resolves to the exact instant of the change', () => {
  const gaps: [string, number, number][] = [
    // zone, the change (UTC), the gap's length
    [NY, Date.UTC(2026, 2, 8, 7, 0), 3_600_000],
    [SYDNEY, Date.UTC(2026, 9, 3, 16, 0), 3_600_000],
    ['Europe/Paris', Date.UTC(2027, 2, 28, 1, 0), 3_600_000],
    ['Australia/Lord_Howe', Date.UTC(2026, 9, 3, 15, 30), 1_800_000],
  ];
  for (const [zone, change, length] of gaps) {
    const wallStart = wallTimeAt(change - 1, zone) + 1; // the first wall reading skipped
    for (let k = 0; k < 200; k++) {
      const wall = wallStart + Math.floor((k * (length - 1)) / 199) + (k % 7);
      if (wall >= wallStart + length) continue;
      assert.equal(wallToUtc(wall, zone), change, `${zone}: wall ${iso(wall)}`);
    }
  }
});
