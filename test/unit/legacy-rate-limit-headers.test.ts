/** Which limit the X-RateLimit-* headers describe (gateway/rate-limit-headers.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { legacyRateLimitHeaders } from '../../src/gateway/rate-limit-headers.ts';

const limit = (policy: string, quota: number, remaining: number, resetSec: number) => ({
  policy,
  quota,
  windowSec: 60,
  remaining,
  resetSec,
});

test('the least remaining wins; on a tie, the one back later; none without limits', () => {
  const into: Record<string, string> = {};
  legacyRateLimitHeaders([limit('ip', 200, 5, 60), limit('account', 80, 7, 3)], into);
  assert.deepEqual(into, {
    'x-ratelimit-limit': '200',
    'x-ratelimit-remaining': '5',
    'x-ratelimit-reset': '60',
  });
  const tie: Record<string, string> = {};
  legacyRateLimitHeaders(
    [limit('ip', 200, 0, 12), limit('account', 80, 0, 40), limit('route-x', 30, 0, 40)],
    tie,
  );
  assert.deepEqual(tie, {
    'x-ratelimit-limit': '80',
    'x-ratelimit-remaining': '0',
    'x-ratelimit-reset': '40',
  });
  const none: Record<string, string> = {};
  legacyRateLimitHeaders([], none);
  assert.deepEqual(none, {});
});
