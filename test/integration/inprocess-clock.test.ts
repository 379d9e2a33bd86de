/**
 * The gateway built in-process on a manual clock, in front of the real demo upstream:
 * every time-dependent answer is driven by advancing the clock, and pinned to the
 * millisecond or the second (Retry-After and RateLimit `t` rounded up, never early).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TOLD_NO_GRACE_MS } from '../../src/core/safeguard/observer.ts';
import { call } from '../helpers/http.ts';
import { type InProcessGateway, inProcessSuite, T0, until } from '../helpers/in-process-gateway.ts';

const suite = inProcessSuite();

async function start(policy: string, startAt = T0): Promise<InProcessGateway> {
  await call(`${suite.upstream().url}/_test/hits/reset`, { method: 'POST' });
  return suite.start(policy, { startAt });
}

const hits = suite.hits;

/** A path no route matches (public, cost 1), answered 200 by the upstream. */
const OK = '/_test/status/200';

/** One request every 10 s, two at once; no slowing: past the burst is 429 at once. */
const TEN_SECONDS_NO_DELAY = `plans:
  standard: { base: 6/min, perUnit: 0/min, min: 6/min, max: 6/min, burst: 2, maxDelay: 0s }
`;

test('account-rate: Retry-After and RateLimit are exact, and rounded up', async () => {
  const g = await start(TEN_SECONDS_NO_DELAY);
  const { key } = g.addKey('acme');
  const first = await g.call(OK, { key });
  assert.equal(first.status, 200);
  assert.equal(first.headers['ratelimit-policy'], '"ip";q=200;w=60, "account";q=6;w=60');
  assert.equal(first.headers.ratelimit, '"ip";r=199;t=60, "account";r=1;t=10');
  const second = await g.call(OK, { key });
  assert.equal(second.headers.ratelimit, '"ip";r=198;t=60, "account";r=0;t=20');

  // 1.6 s later the next unit is 8.4 s away: 9 s, never 8 (a client back at 8 is refused).
  g.clock.advance(1_600);
  const refused = await g.call(OK, { key });
  assert.equal(refused.status, 429);
  assert.equal(refused.headers['retry-after'], '9');
  assert.equal(refused.json().retryAfter, 9);
  assert.equal(refused.json().rule, 'account-rate');
  assert.equal(refused.headers.ratelimit, '"ip";r=197;t=60, "account";r=0;t=19');

  // One millisecond before the unit is back: still refused, Retry-After 1 (not 0).
  g.clock.advance(8_399);
  const early = await g.call(OK, { key });
  assert.equal(early.status, 429);
  assert.equal(early.headers['retry-after'], '1');
  g.clock.advance(1);
  assert.equal((await g.call(OK, { key })).status, 200);
});

test('ip-block: Retry-After is the exact time until the window lets one more in, rounded up', async () => {
  const g = await start('ip:\n  warn: 3/min\n  block: 4/min\n');
  for (let i = 0; i < 4; i++) assert.equal((await g.call(OK)).status, 200);
  // curr = 4 in the window starting at T0: one more fits once 3/4 of it has slid out of
  // the next window, at T0 + 120 s − 3 × 60 s / 4 = T0 + 75 s.
  g.clock.advance(30_000);
  const refused = await g.call(OK);
  assert.equal(refused.status, 429);
  assert.equal(refused.json().rule, 'ip-block');
  assert.equal(refused.headers['retry-after'], '45');
  assert.equal(refused.headers['ratelimit-policy'], '"ip";q=4;w=60');
  assert.equal(refused.headers.ratelimit, '"ip";r=0;t=60', 't is capped at the window');
  assert.equal(refused.headers['sluice-warning'], '"ip";count=5;limit=3');
  g.clock.advance(44_999);
  assert.equal((await g.call(OK)).headers['retry-after'], '1');
  g.clock.advance(1);
  const back = await g.call(OK);
  assert.equal(back.status, 200);
  // prev 4 weighs 3/4 at T0 + 75 s: 3 + this one is the block of 4; the window's new
  // count is gone only at its end (T0 + 180 s), past w: t is capped at 60.
  assert.equal(back.headers.ratelimit, '"ip";r=0;t=60');
});

test('a slowed request is held exactly Sluice-Delay-Ms on the clock, then forwarded', async () => {
  const g = await start(
    'plans:\n  standard: { base: 60/min, perUnit: 0/min, min: 60/min, max: 60/min, burst: 1, maxDelay: 10s }\n',
  );
  const { key } = g.addKey('acme');
  assert.equal((await g.call(OK, { key })).status, 200);
  g.clock.advance(250);
  const held = g.call('/_test/status/202', { key });
  await until(() => g.clock.pending() === 1, 'the hold is armed on the clock');
  g.clock.advance(749);
  assert.equal(g.clock.pending(), 1, 'not released 1 ms early');
  assert.equal(await hits('/_test/status/202'), 0);
  g.clock.advance(1);
  assert.equal(g.clock.pending(), 0, 'released at Sluice-Delay-Ms');
  const answer = await held;
  assert.equal(answer.status, 202);
  assert.equal(answer.headers['sluice-delay-ms'], '750');
  assert.equal(await hits('/_test/status/202'), 1);
});

test('a queued request times out exactly at queueTimeout with 429, never reaching the upstream', async () => {
  const g = await start('plans:\n  standard: { concurrency: 1, queue: 1, queueTimeout: 5s }\n');
  const { key } = g.addKey('acme');
  const holder = new AbortController();
  const holding = g
    .call('/_test/slow?ms=60000', { key, signal: holder.signal })
    .catch(() => 'aborted');
  try {
    // The only slot is taken once the slow request reaches the upstream.
    await until(async () => (await hits('/_test/slow')) === 1, 'the slow request is upstream');
    const queued = g.call(OK, { key });
    await until(() => g.clock.pending() === 1, 'the queue timeout is armed on the clock');
    g.clock.advance(4_999);
    assert.equal(g.clock.pending(), 1, 'still queued 1 ms before queueTimeout');
    g.clock.advance(1);
    assert.equal(g.clock.pending(), 0, 'timed out at queueTimeout');
    const answer = await queued;
    assert.equal(answer.status, 429);
    assert.equal(answer.json().rule, 'account-queue-timeout');
    assert.equal(answer.headers['retry-after'], '1');
    assert.equal(await hits(OK), 0);
  } finally {
    holder.abort();
    await holding;
  }
});

test('a suspension by a safeguard ends exactly when it says; repeats escalate, then revoke', async () => {
  const g = await start(`${TEN_SECONDS_NO_DELAY}safeguards:
  ignoring429: { threshold: 3, window: 1m, durations: [15m, 1h], revokeAfter: 3 }
`);
  const { key, id } = g.addKey('acme');
  const status = () => g.records.getKey(id)?.status;

  /**
   * Two pass, one 429 tells the client no; three 429s sent after the grace: the third
   * reaches the threshold.
   */
  async function offend() {
    for (let i = 0; i < 2; i++) assert.equal((await g.call(OK, { key })).status, 200);
    assert.equal((await g.call(OK, { key })).status, 429);
    g.clock.advance(TOLD_NO_GRACE_MS);
    for (let i = 0; i < 3; i++) assert.equal((await g.call(OK, { key })).status, 429);
  }

  for (const [step, durationSec] of [
    [1, 15 * 60],
    [2, 60 * 60],
  ] as const) {
    const at = g.clock.now();
    await offend();
    await until(() => status() === 'suspended', `suspension ${step}`);
    assert.equal(g.records.getKey(id)?.suspendedUntil, at + TOLD_NO_GRACE_MS + durationSec * 1000);
    const suspended = await g.call(OK, { key });
    assert.equal(suspended.status, 403);
    assert.equal(suspended.json().rule, 'key-suspended');
    assert.equal(suspended.headers['retry-after'], String(durationSec));
    g.clock.advance(durationSec * 1000 - 1);
    const last = await g.call(OK, { key });
    assert.equal(last.status, 403, `suspension ${step} still holds 1 ms before its end`);
    assert.equal(last.headers['retry-after'], '1');
    g.clock.advance(1);
    assert.equal((await g.call(OK, { key })).status, 200, `suspension ${step} has ended`);
    g.clock.advance(60_000);
  }

  await offend();
  await until(() => status() === 'revoked', 'the third offence revokes');
  g.clock.advance(30 * 86_400_000);
  const revoked = await g.call(OK, { key });
  assert.equal(revoked.status, 403);
  assert.equal(revoked.json().rule, 'key-revoked');
  assert.equal(revoked.headers['retry-after'], undefined, 'waiting will not help');
});

test('an IP block by a safeguard escalates through its durations and ends exactly', async () => {
  const g = await start(`safeguards:
  afterAuthFailure: { threshold: 2, window: 1m, durations: [1h, 1d] }
server:
  unauthenticated: refuse
`);
  for (const [step, durationSec] of [
    [1, 3_600],
    [2, 86_400],
  ] as const) {
    assert.equal((await g.call(OK)).status, 401);
    assert.equal((await g.call(OK)).status, 401);
    const at = g.clock.now();
    await until(
      () => g.records.listIpBlocks()[0]?.until === at + durationSec * 1000,
      `block ${step} lasts its duration`,
    );
    const blocked = await g.call(OK);
    assert.equal(blocked.status, 403);
    assert.equal(blocked.json().rule, 'ip-blocked');
    assert.equal(blocked.headers['retry-after'], String(durationSec));
    g.clock.advance(durationSec * 1000 - 1);
    assert.equal((await g.call(OK)).headers['retry-after'], '1');
    g.clock.advance(1);
    assert.equal((await g.call(OK)).status, 401, `block ${step} has ended`);
    g.clock.advance(120_000);
  }
});

/** The default daily window, 01:00–03:00 in New York, is 06:00–08:00 UTC in January. */
const WINDOW_OPENS = Date.UTC(2026, 0, 6, 6, 0, 0);
const WINDOW_CLOSES = Date.UTC(2026, 0, 6, 8, 0, 0);
/** A full listing: the default `full-listing` batch route, 30/min. */
const LISTING = '/api/companies?limit=1';

test('the off-hours batch multiplier switches on and off exactly at the window edges', async () => {
  const g = await start('', WINDOW_OPENS - 1);
  const { key } = g.addKey('acme');
  const quota = async () =>
    /"route-full-listing";q=(\d+);w=60/.exec(
      (await g.call(LISTING, { key })).headers['ratelimit-policy'] ?? '',
    )?.[1];
  assert.equal(await quota(), '30', '1 ms before the window: the route rate as written');
  g.clock.advance(1);
  assert.equal(await quota(), '120', 'at 01:00 New York: 30/min × 4');
  g.clock.set(WINDOW_CLOSES - 1);
  assert.equal(await quota(), '120', 'still inside 1 ms before 03:00');
  g.clock.advance(1);
  assert.equal(await quota(), '30', 'at 03:00 the multiplier is off');
});

test('confineBatch: outside the windows a batch route is 429 until the next window opens, to the second', async () => {
  const g = await start('offHours:\n  confineBatch: true\n', WINDOW_OPENS - 3_600_000);
  const { key } = g.addKey('acme');
  const refused = await g.call(LISTING, { key });
  assert.equal(refused.status, 429);
  assert.equal(refused.json().rule, 'batch-window');
  assert.equal(refused.headers['retry-after'], '3600');
  g.clock.set(WINDOW_OPENS - 1_001);
  assert.equal((await g.call(LISTING, { key })).headers['retry-after'], '2');
  g.clock.advance(1_000);
  assert.equal((await g.call(LISTING, { key })).headers['retry-after'], '1');
  g.clock.advance(1);
  assert.equal((await g.call(LISTING, { key })).status, 200, 'served from 01:00 New York');
  g.clock.set(WINDOW_CLOSES);
  const closed = await g.call(LISTING, { key });
  assert.equal(closed.status, 429, 'refused again from 03:00');
  assert.equal(closed.headers['retry-after'], String(22 * 3600), 'until 01:00 the next day');
  // An incremental sync is not a full listing: never confined.
  const incremental = await g.call('/api/companies?limit=1&modifiedAfter=2026-01-01T00:00:00Z', {
    key,
  });
  assert.equal(incremental.status, 200);
});
