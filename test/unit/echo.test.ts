import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ECHO_KEEP, quote, shorten, shortenRuns } from '../../src/core/echo.ts';

// Pins how values are echoed in messages: the first 60 characters, then the length.

test('60 characters are kept', () => {
  assert.equal(ECHO_KEEP, 60);
});

test('shorten: up to 60 characters the value as written, from 61 the first 60, … and the length', () => {
  assert.equal(shorten(''), '');
  assert.equal(shorten('5y'), '5y');
  assert.equal(shorten(' a "b" '), ' a "b" ', 'no quoting, no trimming');
  assert.equal(shorten('x'.repeat(60)), 'x'.repeat(60));
  assert.equal(shorten(`${'a'.repeat(60)}b`), `${'a'.repeat(60)}… (61 characters)`);
  assert.equal(shorten(`${'a'.repeat(59)}bc`), `${'a'.repeat(59)}b… (61 characters)`);
  assert.equal(shorten('A'.repeat(10_240)), `${'A'.repeat(60)}… (10240 characters)`);
});

test('quote: JSON-quoted up to 60 characters; from 61 the first 60 and … inside the quotes, the length outside', () => {
  assert.equal(quote(''), '""');
  assert.equal(quote('5y'), '"5y"');
  assert.equal(quote('a"b\\c\nd\te'), '"a\\"b\\\\c\\nd\\te"', 'JSON escapes');
  assert.equal(quote('y'.repeat(60)), `"${'y'.repeat(60)}"`);
  assert.equal(quote(`${'a'.repeat(60)}b`), `"${'a'.repeat(60)}…" (61 characters)`);
  assert.equal(quote('A'.repeat(10_240)), `"${'A'.repeat(60)}…" (10240 characters)`);
  // The length counts the value, not its escapes; the 60 kept are escaped after the cut.
  assert.equal(quote('"'.repeat(61)), `"${'\\"'.repeat(60)}…" (61 characters)`);
});

test('shortenRuns: a run of 200 or more characters without a space or quote is shortened, shorter runs kept', () => {
  assert.equal(shortenRuns(''), '');
  assert.equal(shortenRuns('Unknown option --x'), 'Unknown option --x');
  const r199 = 'r'.repeat(199);
  assert.equal(shortenRuns(`a ${r199} b`), `a ${r199} b`);
  assert.equal(shortenRuns(`a ${'r'.repeat(200)} b`), `a ${'r'.repeat(60)}… (200 characters) b`);
  assert.equal(
    shortenRuns(`Unknown option '--${'x'.repeat(10_000)}'`),
    `Unknown option '${'-'.repeat(2)}${'x'.repeat(58)}… (10002 characters)'`,
  );
});

test('shortenRuns: every run is shortened, and spaces, tabs, newlines and all three quotes end a run', () => {
  const run = 'z'.repeat(250);
  const cut = `${'z'.repeat(60)}… (250 characters)`;
  assert.equal(shortenRuns(`${run} ${run}`), `${cut} ${cut}`, 'every run, not the first only');
  assert.equal(shortenRuns(`${run}\t${run}\n${run}`), `${cut}\t${cut}\n${cut}`);
  assert.equal(shortenRuns(`"${run}"'${run}'\`${run}\``), `"${cut}"'${cut}'\`${cut}\``);
  // 150 + 150 with a quote between: two runs of 150, none shortened.
  const half = 'h'.repeat(150);
  for (const q of ['"', "'", '`', ' ']) {
    assert.equal(shortenRuns(`${half}${q}${half}`), `${half}${q}${half}`);
  }
  // Other punctuation does not end a run.
  const mixed = `${'m'.repeat(100)}-/.:${'m'.repeat(100)}`;
  assert.equal(shortenRuns(mixed), `${'m'.repeat(60)}… (204 characters)`);
});
