/**
 * Suggestions for misspelt settings, values and time zones ("brust" → "burst").
 * Distance is optimal string alignment (Levenshtein plus swapped neighbours), after
 * ignoring case, `-` and `_`, so `max_delay` finds `maxDelay`.
 */

function normalise(word: string): string {
  return word.toLowerCase().replace(/[-_\s]/g, '');
}

/** Edit distance where swapping two neighbouring letters costs one edit. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/**
 * The candidate closest to `word`, if it is close enough to be what was meant:
 * at most 2 edits, and fewer edits than a third of the word's length (plus one).
 *
 * @example
 * didYouMean('brust', ['base', 'burst', 'queue']); // 'burst'
 * didYouMean('colour', ['base', 'burst']); // undefined
 */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const w = normalise(word);
  const limit = Math.min(2, Math.floor(w.length / 3) + 1);
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    if (candidate === word) continue;
    const distance = editDistance(w, normalise(candidate));
    if (distance <= limit && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}
