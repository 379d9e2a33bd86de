import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bulkVerdict } from '../../src/core/limiter/bulk-log.ts';
import { HeldSlots } from '../../src/core/limiter/held-slots.ts';

test('a key holds at most its limit of slots; a released slot can be taken again', () => {
  const slots = new HeldSlots();
  const a = slots.take('192.0.2.1', 2);
  const b = slots.take('192.0.2.1', 2);
  assert.ok(a !== undefined && b !== undefined);
  assert.equal(slots.take('192.0.2.1', 2), undefined);
  assert.equal(slots.held('192.0.2.1'), 2);
  assert.ok(slots.take('192.0.2.2', 2), 'another key has its own slots');
  a();
  assert.equal(slots.held('192.0.2.1'), 1);
  assert.ok(slots.take('192.0.2.1', 2));
});

test('releasing a slot twice gives back one slot, not two', () => {
  const slots = new HeldSlots();
  const a = slots.take('k', 2);
  const b = slots.take('k', 2);
  assert.ok(a !== undefined && b !== undefined);
  a();
  a();
  assert.equal(slots.held('k'), 1, 'the second call did nothing');
  assert.ok(slots.take('k', 2));
  assert.equal(slots.take('k', 2), undefined, 'still capped at 2');
  b();
  b();
});

test('a key with no slot held takes no memory', () => {
  const slots = new HeldSlots();
  const releases = Array.from({ length: 100 }, (_, i) => slots.take(`192.0.2.${i}`, 1));
  assert.equal(slots.size, 100);
  for (const release of releases) release?.();
  assert.equal(slots.size, 0);
});

test('a lower limit after a reload refuses until enough slots come back', () => {
  const slots = new HeldSlots();
  const held = [slots.take('k', 3), slots.take('k', 3), slots.take('k', 3)];
  assert.equal(slots.take('k', 2), undefined);
  held[0]?.();
  assert.equal(slots.take('k', 2), undefined, '2 still held, the new limit');
  held[1]?.();
  assert.ok(slots.take('k', 2));
});

test('bulk allowance: a fractional allowance counts in whole exports and still says when', () => {
  // 1.5 exports a period: the second is refused until the first leaves the window.
  assert.deepEqual(bulkVerdict([1_000], 1.5, 10_000), {
    allowed: true,
    used: 1,
    nextAllowedAt: undefined,
  });
  assert.deepEqual(bulkVerdict([1_000, 2_000], 1.5, 10_000), {
    allowed: false,
    used: 2,
    nextAllowedAt: 11_000,
  });
});
