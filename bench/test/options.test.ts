import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseOptions } from '../lib/options.ts';

test('defaults, and --quick for a short run', () => {
  const d = parseOptions([]);
  assert.equal(d.rounds, 5);
  assert.equal(d.durationSec, 10);
  assert.equal(d.keys, 1000);
  assert.equal(d.scenarios, true);
  const q = parseOptions(['--quick']);
  assert.equal(q.rounds, 3);
  assert.equal(q.durationSec, 5);
  assert.deepEqual(parseOptions(['--quick', '--rounds', '7']).rounds, 7);
});

test('targets list and switches', () => {
  const o = parseOptions(['--targets', 'direct, nginx', '--no-scenarios', '--no-write']);
  assert.deepEqual(o.targets, ['direct', 'nginx']);
  assert.equal(o.scenarios, false);
  assert.equal(o.write, false);
  assert.equal(o.threads, true);
  assert.equal(parseOptions(['--no-threads']).threads, false);
});

test('bad values are refused with the option named', () => {
  assert.throws(() => parseOptions(['--rounds', '0']), /--rounds must be a whole number/);
  assert.throws(() => parseOptions(['--duration', 'ten']), /--duration/);
  assert.throws(() => parseOptions(['--frobnicate']), /frobnicate/);
});
