/**
 * The one test suite every SafeguardTally passes (MemoryTally in this process, RedisTally
 * on a real redis-server): counting to the threshold, one offence per crossing, the
 * subject ignored while it serves, escalation and forgotten history, the window sliding,
 * forgiving. A tally that is shared (Redis) also shows two nodes' floods counted whole
 * and the crossing claimed once.
 *
 * @example
 * runTallyContract('memory', () => new MemoryTally({ maxSubjects: 100, maxOffenders: 100 }));
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SafeguardTally, TallyStep } from '../../src/core/safeguard/tally.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Date.UTC(2026, 0, 1);

/** A rule of threshold 3 in one minute, 1 h then 1 day of quiet, history 1 week. */
function step(now: number, over: Partial<TallyStep> = {}): TallyStep {
  return {
    now,
    windowMs: MINUTE,
    buckets: 30,
    threshold: 3,
    historyMs: 7 * 24 * HOUR,
    quietMs: [HOUR, 24 * HOUR],
    blockIp: false,
    ...over,
  };
}

export function runTallyContract(
  name: string,
  make: () => Promise<SafeguardTally> | SafeguardTally,
  /** A second tally on the same shared state, for a shared tally; omitted for one that is not. */
  peer?: (first: SafeguardTally) => Promise<SafeguardTally>,
): void {
  let subjects = 0;
  /** A subject no other test uses (a shared tally keeps its state between tests). */
  const fresh = () => `i:192.0.2.${subjects++}-${name}`;

  test(`${name} tally: the threshold-th observation claims offence 1; the count restarts`, async () => {
    const tally = await make();
    const s = fresh();
    assert.deepEqual(await tally.add('afterAuthFailure', s, step(T0)), { total: 1, offence: 0 });
    assert.deepEqual(await tally.add('afterAuthFailure', s, step(T0 + 10)), {
      total: 2,
      offence: 0,
    });
    assert.deepEqual(await tally.add('afterAuthFailure', s, step(T0 + 20)), {
      total: 3,
      offence: 1,
    });
    // Another rule, another subject: counted apart.
    assert.deepEqual(await tally.add('ignoring429', s, step(T0 + 20)), { total: 1, offence: 0 });
    assert.deepEqual(await tally.add('afterAuthFailure', fresh(), step(T0 + 20)), {
      total: 1,
      offence: 0,
    });
  });

  test(`${name} tally: ignored while serving; then the next offence escalates`, async () => {
    const tally = await make();
    const s = fresh();
    for (let i = 0; i < 3; i++) await tally.add('malformedStorm', s, step(T0 + i));
    assert.equal(await tally.add('malformedStorm', s, step(T0 + HOUR - 1)), undefined);
    let last: unknown;
    for (let i = 0; i < 3; i++)
      last = await tally.add('malformedStorm', s, step(T0 + HOUR + 10 + i));
    assert.deepEqual(last, { total: 3, offence: 2 });
    assert.equal(
      await tally.add('malformedStorm', s, step(T0 + HOUR + 10 + 24 * HOUR - 1)),
      undefined,
    );
  });

  test(`${name} tally: history forgotten after historyMs, the next offence is the first`, async () => {
    const tally = await make();
    const s = fresh();
    const short = { historyMs: 2 * HOUR, quietMs: [0] };
    for (let i = 0; i < 3; i++) await tally.add('ignoring429', s, step(T0 + i, short));
    let last: unknown;
    for (let i = 0; i < 3; i++) last = await tally.add('ignoring429', s, step(T0 + 10 + i, short));
    assert.deepEqual(last, { total: 3, offence: 2 }, 'a revocation (quiet 0) is not ignored');
    for (let i = 0; i < 3; i++) {
      last = await tally.add('ignoring429', s, step(T0 + 3 * HOUR + i, short));
    }
    assert.deepEqual(last, { total: 3, offence: 1 });
  });

  test(`${name} tally: observations older than the window stop counting`, async () => {
    const tally = await make();
    const s = fresh();
    await tally.add('afterAuthFailure', s, step(T0));
    await tally.add('afterAuthFailure', s, step(T0 + 30_000));
    // 61 s on, the first fell out; the second still counts.
    assert.deepEqual(await tally.add('afterAuthFailure', s, step(T0 + 61_000)), {
      total: 2,
      offence: 0,
    });
  });

  test(`${name} tally: forgive ends what is served; with offences, history starts over`, async () => {
    const tally = await make();
    const s = fresh();
    for (let i = 0; i < 3; i++) await tally.add('nonPublicAutomation', s, step(T0 + i));
    assert.equal(await tally.add('nonPublicAutomation', s, step(T0 + 10)), undefined);
    await tally.forgive([s], false, T0 + 20);
    let last: unknown;
    for (let i = 0; i < 3; i++) last = await tally.add('nonPublicAutomation', s, step(T0 + 30 + i));
    assert.deepEqual(last, { total: 3, offence: 2 }, 'the history was kept');
    await tally.forgive([s], true, T0 + 40);
    for (let i = 0; i < 3; i++) last = await tally.add('nonPublicAutomation', s, step(T0 + 50 + i));
    assert.deepEqual(last, { total: 3, offence: 1 }, 'the history started over');
  });

  if (peer !== undefined) {
    test(`${name} tally: two nodes' observations count whole; the crossing is claimed once`, async () => {
      const a = await make();
      const b = await peer(a);
      const s = fresh();
      const flood = { threshold: 10 };
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          (i % 2 === 0 ? a : b).add('afterAuthFailure', s, step(T0 + i, flood)),
        ),
      );
      const offences = answers.filter((r) => r !== undefined && r.offence > 0);
      assert.equal(offences.length, 1, JSON.stringify(answers));
      assert.deepEqual(offences[0], { total: 10, offence: 1 });
      assert.equal(await b.add('afterAuthFailure', s, step(T0 + 20, flood)), undefined);
    });
  }
}
