import assert from 'node:assert/strict';
import { test } from 'node:test';
import { didYouMean, editDistance } from '../../src/core/policy/did-you-mean.ts';

test('edit distance counts a swap of neighbours as one edit, and nothing else as a swap', () => {
  const cases: [string, string, number][] = [
    ['', 'abc', 3],
    ['a', 'b', 1],
    ['ab', 'ba', 1],
    ['abcd', 'acbd', 1],
    ['abcd', 'abdc', 1],
    ['abc', 'xyz', 3],
    ['abcd', 'badc', 2],
    ['ca', 'abc', 3],
    ['kitten', 'sitting', 3],
  ];
  for (const [a, b, want] of cases) {
    assert.equal(editDistance(a, b), want, `${a} → ${b}`);
    assert.equal(editDistance(b, a), want, `${b} → ${a}`);
  }
});

test('a suggestion is the closest candidate, the first of equals, never the word itself', () => {
  assert.equal(didYouMean('brust', ['base', 'burst', 'queue']), 'burst');
  assert.equal(didYouMean('brust', ['burst', 'bursts']), 'burst');
  assert.equal(didYouMean('brust', ['bursts', 'burst']), 'burst');
  assert.equal(didYouMean('bust', ['burst', 'must']), 'burst');
  assert.equal(didYouMean('burst', ['burst']), undefined);
  assert.equal(didYouMean('burst', ['burst', 'bursts']), 'bursts');
  assert.equal(didYouMean('max_delay', ['maxDelay']), 'maxDelay');
  assert.equal(didYouMean('colour', ['base', 'burst']), undefined);
});

test('short words allow one edit, longer ones two', () => {
  // 'ab' (2 letters) allows floor(2/3) + 1 = 1 edit; 'abcdef' allows 2, never 3.
  assert.equal(didYouMean('ab', ['xb']), 'xb');
  assert.equal(didYouMean('ab', ['xy']), undefined);
  assert.equal(didYouMean('abcdef', ['abxyef']), 'abxyef');
  assert.equal(didYouMean('abcdef', ['axyzef']), undefined);
  // Case is folded to lower case: 'ß' stays one letter (upper case makes it 'SS', a
  // three-letter word that would allow two edits).
  assert.equal(didYouMean('ßa', ['xya']), undefined);
});
