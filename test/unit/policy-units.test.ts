import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  formatDuration,
  formatRate,
  formatSize,
  parseDuration,
  parseRate,
  parseSize,
  show,
} from '../../src/core/policy/units.ts';

const S = 1_000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

test('durations in every unit name the policy accepts', () => {
  const cases: [string, number][] = [
    ['250ms', 250],
    ['30s', 30 * S],
    ['30 sec', 30 * S],
    ['1 second', S],
    ['45seconds', 45 * S],
    ['15m', 15 * M],
    ['15min', 15 * M],
    ['1 minute', M],
    ['2 minutes', 2 * M],
    ['2h', 2 * H],
    ['1 hour', H],
    ['3hours', 3 * H],
    ['30d', 30 * D],
    ['1 day', D],
    ['2days', 2 * D],
    ['1w', 7 * D],
    ['1 week', 7 * D],
    ['2weeks', 14 * D],
    ['1h30m', 90 * M],
    ['1h 30m', 90 * M],
    ['1.5s', 1_500],
    ['0s', 0],
    ['10S', 10 * S],
  ];
  for (const [text, ms] of cases)
    assert.deepEqual(parseDuration(text), { ok: true, value: ms }, text);
});

test('a duration that is not one says why, quoting what was written', () => {
  const bad = (v: unknown) => {
    const p = parseDuration(v);
    assert.equal(p.ok, false);
    return p.ok ? '' : p.message;
  };
  const hint = 'write a number and a unit, for example 30s, 15m, 2h or 30d';
  assert.equal(bad('ten seconds'), `"ten seconds" is not a duration: ${hint}`);
  assert.equal(bad(30), `30 is not a duration: ${hint}`);
  assert.equal(bad(''), `"" is not a duration: ${hint}`);
  assert.equal(bad('30'), `"30" is not a duration: ${hint}`);
  assert.equal(bad('-5s'), `"-5s" is not a duration: ${hint}`);
  assert.equal(
    bad('5y'),
    '"5y" is not a duration: "y" is not a unit (use ms, s, m (or min), h, d or w)',
  );
});

test('rates: COUNT/UNIT or COUNT/DURATION', () => {
  const cases: [string, number, number][] = [
    ['100/min', 100, M],
    ['100/m', 100, M],
    ['100/minute', 100, M],
    ['5/s', 5, S],
    ['5/sec', 5, S],
    ['5/second', 5, S],
    ['1000/h', 1000, H],
    ['1000/hour', 1000, H],
    ['1/30d', 1, 30 * D],
    ['1/day', 1, D],
    ['2/w', 2, 7 * D],
    ['2/week', 2, 7 * D],
    ['10/250ms', 10, 250],
    ['0.5/s', 0.5, S],
    [' 100 / min ', 100, M],
  ];
  for (const [text, limit, periodMs] of cases) {
    assert.deepEqual(parseRate(text), { ok: true, value: { limit, periodMs } }, text);
  }
});

test('a rate that is not one says how to write one', () => {
  const message = (v: unknown) => {
    const p = parseRate(v);
    return p.ok ? 'ok' : p.message;
  };
  const hint = 'write COUNT/UNIT, for example 100/min';
  assert.equal(message('100 per minute'), `"100 per minute" is not a rate: ${hint}`);
  assert.equal(message(100), `100 is not a rate: ${hint}`);
  assert.equal(message('/min'), `"/min" is not a rate: ${hint}`);
  assert.equal(message(['100/min']), `a list is not a rate: ${hint}`);
  assert.equal(message(null), `an empty value is not a rate: ${hint}`);
  assert.equal(
    message('1/month'),
    '"1/month" is not a rate: "month" is not a unit (use ms, s, m (or min), h, d or w)',
  );
  assert.equal(message('1/0s'), '"1/0s" is not a rate: its period is 0');
});

test('formatting picks the largest exact unit', () => {
  assert.equal(formatDuration(250), '250ms');
  assert.equal(formatDuration(30 * S), '30s');
  assert.equal(formatDuration(90 * S), '90s');
  assert.equal(formatDuration(15 * M), '15m');
  assert.equal(formatDuration(2 * H), '2h');
  assert.equal(formatDuration(30 * D), '30d');
  assert.equal(formatDuration(7 * D), '1w');
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatRate({ limit: 100, periodMs: M }), '100/min');
  assert.equal(formatRate({ limit: 1, periodMs: 30 * D }), '1/30d');
  assert.equal(formatRate({ limit: 5, periodMs: S }), '5/s');
  assert.equal(formatRate({ limit: 0.5, periodMs: M }), '1/2min');
});

test('format then parse gives the same value back', () => {
  for (const ms of [1, 250, 999, S, 61 * S, 15 * M, 90 * M, H, 36 * H, D, 7 * D, 30 * D, 365 * D]) {
    assert.deepEqual(parseDuration(formatDuration(ms)), { ok: true, value: ms }, String(ms));
  }
  for (const rate of [
    { limit: 100, periodMs: M },
    { limit: 1, periodMs: 30 * D },
    { limit: 7, periodMs: 90 * S },
    { limit: 0.5, periodMs: M },
    { limit: 0.25, periodMs: H },
    { limit: 3000, periodMs: H },
  ]) {
    const back = parseRate(formatRate(rate));
    assert.ok(back.ok);
    assert.ok(
      Math.abs(back.value.limit / back.value.periodMs - rate.limit / rate.periodMs) < 1e-15,
      formatRate(rate),
    );
  }
  for (const text of ['100/min', '1/30d', '5/s', '2/w', '10/250ms']) {
    const parsed = parseRate(text);
    assert.ok(parsed.ok);
    assert.equal(formatRate(parsed.value), text);
  }
});

test('sizes: bytes, or a number and a binary or decimal unit', () => {
  const cases: [unknown, number][] = [
    [4096, 4096],
    ['4096', 4096],
    ['512B', 512],
    ['64KiB', 65_536],
    ['1MiB', 1_048_576],
    ['1 mib', 1_048_576],
    ['1.5MiB', 1_572_864],
    ['2GiB', 2_147_483_648],
    ['10KB', 10_000],
    ['1MB', 1_000_000],
    [0, 0],
  ];
  for (const [text, bytes] of cases) assert.deepEqual(parseSize(text), { ok: true, value: bytes });
  for (const bad of ['', 'MiB', '-1', '1 megabyte', 1.5, -4, true, null]) {
    const p = parseSize(bad);
    assert.equal(p.ok, false, String(bad));
    if (!p.ok) assert.match(p.message, /is not a size/);
  }
});

test('a size is formatted with the largest binary unit that divides it', () => {
  assert.equal(formatSize(1_048_576), '1MiB');
  assert.equal(formatSize(262_144), '256KiB');
  assert.equal(formatSize(1_000_000), '1000000B');
  assert.equal(formatSize(0), '0B');
  for (const bytes of [1, 1024, 3 * 1_048_576, 1_073_741_824, 1_000_000]) {
    assert.deepEqual(parseSize(formatSize(bytes)), { ok: true, value: bytes });
  }
});

test('show describes every kind of YAML value', () => {
  assert.equal(show('x'), '"x"');
  assert.equal(show(null), 'an empty value');
  assert.equal(show(undefined), 'an empty value');
  assert.equal(show([1]), 'a list');
  assert.equal(show({ a: 1 }), 'a mapping');
  assert.equal(show(12), '12');
});

const DURATION_BAD = (v: string) =>
  `"${v}" is not a duration: write a number and a unit, for example 30s, 15m, 2h or 30d`;

test('durations: fractions of several digits, case and spaces around, nothing after', () => {
  assert.deepEqual(parseDuration('1.25h'), { ok: true, value: 4_500_000 });
  assert.deepEqual(parseDuration(' 30S '), { ok: true, value: 30 * S });
  assert.deepEqual(parseDuration('3650d'), { ok: true, value: 3650 * D });
  assert.deepEqual(parseDuration('30s!'), { ok: false, message: DURATION_BAD('30s!') });
  assert.deepEqual(parseDuration('30s 5'), { ok: false, message: DURATION_BAD('30s 5') });
});

const RATE_BAD = (v: string) => `"${v}" is not a rate: write COUNT/UNIT, for example 100/min`;
const UNIT_HINT = 'use ms, s, m (or min), h, d or w';

test('rates: the whole text, fractions of several digits, the largest count', () => {
  assert.deepEqual(parseRate('1.25/min'), { ok: true, value: { limit: 1.25, periodMs: M } });
  assert.deepEqual(parseRate('x100/min'), { ok: false, message: RATE_BAD('x100/min') });
  assert.deepEqual(parseRate('100/min\nx'), {
    ok: false,
    message: '"100/min\\nx" is not a rate: write COUNT/UNIT, for example 100/min',
  });
  assert.deepEqual(parseRate('1000000000/min'), {
    ok: true,
    value: { limit: 1_000_000_000, periodMs: M },
  });
  assert.deepEqual(parseRate('1/3650d'), { ok: true, value: { limit: 1, periodMs: 3650 * D } });
  assert.deepEqual(parseRate('1/3651d'), {
    ok: false,
    message: '"1/3651d" has a period that is too long: a duration is at most 3650d (ten years)',
  });
});

test('a rate whose period is not a duration names the wrong unit only when there is one', () => {
  assert.deepEqual(parseRate('1/1.25x'), {
    ok: false,
    message: `"1/1.25x" is not a rate: "x" is not a unit (${UNIT_HINT})`,
  });
  for (const v of ['1/5x5', '1/!x', '1/x5']) {
    assert.deepEqual(parseRate(v), { ok: false, message: RATE_BAD(v) }, v);
  }
});

test('formatRate scales a fraction by up to 1000, and leaves a tiny limit as it is', () => {
  assert.equal(formatRate({ limit: 0.001, periodMs: M }), '1/1000min');
  // 5e-10 * 2 is 1e-9 exactly: not a whole number, so it must not round to 0/2min.
  assert.equal(formatRate({ limit: 5e-10, periodMs: M }), '5e-10/min');
});

test('formatDuration of a value no unit divides still names milliseconds', () => {
  assert.equal(formatDuration(Number.POSITIVE_INFINITY), 'Infinityms');
});

const SIZE_BAD = (v: string) =>
  `"${v}" is not a size: write a number and a unit, for example 64KiB or 1MiB`;

test('sizes: case and spaces around, fractions of several digits, nothing after', () => {
  assert.deepEqual(parseSize(' 1MiB '), { ok: true, value: 1_048_576 });
  assert.deepEqual(parseSize('1.25kib'), { ok: true, value: 1280 });
  assert.deepEqual(parseSize('5kb!'), { ok: false, message: SIZE_BAD('5kb!') });
});
