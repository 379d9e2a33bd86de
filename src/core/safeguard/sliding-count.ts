/**
 * A sliding-window count in a fixed number of buckets, so memory per subject does not
 * grow with the threshold (a log of timestamps would hold `threshold` numbers).
 *
 * The count sums the buckets of the last `n` bucket periods, the current one included:
 * it covers between (n−1)/n of the window and the whole window, never more. So an
 * observation older than the window never counts, and one stops counting at most one
 * bucket period (window/n) early.
 *
 * @example
 * const c = newCount(60_000, 30); // 30 buckets of 2 s
 * addOne(c, 0); addOne(c, 1_000); // 2
 * addOne(c, 60_500); // 2: the first fell out, the second still counts
 */
export interface SlidingCount {
  /**
   * Per-bucket counts, created only once a second bucket is needed: most subjects of a
   * flood of distinct IPs are seen once, and a typed array per subject costs more than
   * the rest of the observation.
   */
  buckets: number[] | undefined;
  /** Number of buckets in the window. */
  readonly n: number;
  readonly bucketMs: number;
  /** Absolute index (time / bucketMs) of the newest bucket. */
  head: number;
  total: number;
  /** Time of the last observation, for idle eviction. */
  lastAt: number;
}

export function newCount(windowMs: number, buckets: number): SlidingCount {
  const n = Math.max(1, Math.min(buckets, Math.floor(windowMs)));
  // Rounded down, so that n buckets never span more than the window.
  const bucketMs = Math.max(1, Math.floor(windowMs / n));
  return { buckets: undefined, n, bucketMs, head: 0, total: 0, lastAt: 0 };
}

/** Counts one observation at `now`; returns the count in the window, this one included. */
export function addOne(c: SlidingCount, now: number): number {
  const { n } = c;
  const index = Math.floor(now / c.bucketMs);
  if (c.total === 0 || index - c.head >= n) {
    // Nothing counted, or everything counted is out of the window: start afresh.
    c.buckets?.fill(0);
    c.total = 0;
    c.head = index;
  } else if (index > c.head) {
    if (c.buckets === undefined) {
      // Until now every observation sat in the head bucket.
      c.buckets = new Array<number>(n).fill(0);
      c.buckets[c.head % n] = c.total;
    }
    // Empty the buckets the window slid past.
    for (let i = c.head + 1; i <= index; i++) {
      c.total -= c.buckets[i % n];
      c.buckets[i % n] = 0;
    }
    c.head = index;
  }
  // A clock that stepped back counts into the newest bucket.
  if (c.buckets !== undefined) c.buckets[c.head % n] += 1;
  c.total += 1;
  c.lastAt = Math.max(c.lastAt, now);
  return c.total;
}
