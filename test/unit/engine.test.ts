import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manualClock } from '../../src/core/clock.ts';
import type { Decision, Deny, LimitState } from '../../src/core/decision.ts';
import { type AdmitInput, createEngine } from '../../src/core/engine.ts';
import { isSluiceError } from '../../src/core/errors.ts';
import type { LimitStore } from '../../src/core/limiter/types.ts';
import type { Plan, Policy } from '../../src/core/policy/types.ts';
import { MemoryLimitStore } from '../../src/store/memory-limit-store.ts';
import { MINUTE, perMinute, STANDARD, TINY, testPolicy } from './helpers/policy-fixture.ts';

const T0 = 1_767_225_600_000; // a minute boundary

function setup(policy: Policy = testPolicy(), store: LimitStore = new MemoryLimitStore()) {
  const clock = manualClock(T0);
  const engine = createEngine({ policy, store, clock });
  const admit = (input: AdmitInput): Decision => {
    const d = engine.admit(input);
    assert.ok(!(d instanceof Promise), 'the memory store keeps admit synchronous');
    return d;
  };
  return { clock, engine, admit };
}

const acct = (id: string, size = 0, plan = 'standard') => ({ id, size, plan });

function asDeny(d: Decision): Deny {
  assert.equal(d.outcome, 'deny', `expected a denial, got ${JSON.stringify(d)}`);
  return d as Deny;
}

test('IP: the 201st request in a minute is refused with the exact Retry-After', () => {
  const { admit } = setup();
  for (let i = 0; i < 200; i++)
    assert.equal(admit({ ip: '198.51.100.7', cost: 1 }).outcome, 'allow');
  const d = asDeny(admit({ ip: '198.51.100.7', cost: 1 }));
  assert.equal(d.rule, 'ip-block');
  assert.equal(d.status, 429);
  // 200 counted at the start of the window decay below 200 at 300 ms into the next one.
  assert.equal(d.retryAfterMs, MINUTE + 300);
  assert.deepEqual(d.counters, { ipRequests: 201, ipBlock: 200, ipWarn: 100 });
  assert.deepEqual(d.limits, [
    { policy: 'ip', quota: 200, windowSec: 60, remaining: 0, resetSec: 60 },
  ]);
  assert.equal(
    admit({ ip: '198.51.100.8', cost: 1 }).outcome,
    'allow',
    'another IP is not affected',
  );
});

test('IP: the warning is signalled on every request over it, reported once per window', () => {
  const { admit, clock } = setup();
  const reports: number[] = [];
  let warned = 0;
  for (let i = 0; i < 150; i++) {
    const d = admit({ ip: '192.0.2.1', cost: 1 });
    assert.equal(d.outcome, 'allow');
    if (d.warning !== undefined) {
      warned++;
      assert.equal(d.warning.ip, '192.0.2.1');
      assert.equal(d.warning.limit, 100);
      if (d.warning.report) reports.push(d.warning.count);
    }
  }
  assert.equal(warned, 50);
  assert.deepEqual(reports, [101]);
  clock.advance(MINUTE); // the 150 still weigh fully at the boundary: warns at once
  const next = admit({ ip: '192.0.2.1', cost: 1 });
  assert.deepEqual(next.warning, { ip: '192.0.2.1', count: 151, limit: 100, report: true });
  assert.equal(admit({ ip: '192.0.2.1', cost: 1 }).warning?.report, false);
});

test('account: the burst passes, then requests are slowed, then refused past the maximum delay', () => {
  const { admit } = setup();
  const a = acct('acme'); // standard, size 0: 60/min, burst 5, maxDelay 2 s
  for (let i = 0; i < 5; i++) {
    const d = admit({ ip: '192.0.2.2', account: a, cost: 1 });
    assert.equal(d.outcome, 'allow');
    assert.deepEqual(d.limits[1], {
      policy: 'account',
      quota: 60,
      windowSec: 60,
      remaining: 4 - i,
      resetSec: i + 1,
    });
  }
  const slow1 = admit({ ip: '192.0.2.2', account: a, cost: 1 });
  const slow2 = admit({ ip: '192.0.2.2', account: a, cost: 1 });
  assert.deepEqual([slow1.outcome, slow2.outcome], ['delay', 'delay']);
  assert.equal(slow1.outcome === 'delay' && slow1.delayMs, 1000);
  assert.equal(slow2.outcome === 'delay' && slow2.delayMs, 2000);
  assert.equal(slow2.outcome === 'delay' && slow2.rule, 'account-rate');
  const d = asDeny(admit({ ip: '192.0.2.2', account: a, cost: 1 }));
  assert.equal(d.rule, 'account-rate');
  assert.equal(d.retryAfterMs, 3000);
  assert.equal(d.counters.account, 'acme');
  assert.equal(d.counters.rate, 60);
  assert.deepEqual(
    d.limits.map((l) => l.policy),
    ['ip', 'account'],
  );
  // The account refusal came after the IP window counted the request (documented).
  assert.equal(d.limits[0].remaining, 200 - 8);
});

test('account: too many slowed requests → 429 account-slowed at once, state untouched', () => {
  const { admit, engine } = setup();
  const a = acct('tiny-co', 0, 'tiny'); // burst 2, 60/min, maxDelay 2 s, maxSlowed 1
  admit({ ip: '192.0.2.3', account: a, cost: 1 });
  admit({ ip: '192.0.2.3', account: a, cost: 1 });
  const slowed = admit({ ip: '192.0.2.3', account: a, cost: 1 });
  assert.equal(slowed.outcome, 'delay');
  engine.slowedEnter('tiny-co'); // the gateway holds it
  const d = asDeny(admit({ ip: '192.0.2.3', account: a, cost: 1 }));
  assert.equal(d.rule, 'account-slowed');
  assert.equal(d.retryAfterMs, 2000, 'until it would conform without being slowed');
  assert.deepEqual([d.counters.slowed, d.counters.maxSlowed], [1, 1]);
  // Another account is not affected by this one's slowed requests.
  assert.equal(
    admit({ ip: '192.0.2.3', account: acct('other', 0, 'tiny'), cost: 1 }).outcome,
    'allow',
  );
  engine.slowedLeave('tiny-co');
  // Delayed, not refused as account-slowed: the slowed count is back to zero.
  const again = admit({ ip: '192.0.2.3', account: a, cost: 1 });
  assert.equal(
    again.outcome === 'delay' && again.delayMs,
    2000,
    'the refusal did not spend budget',
  );
});

test('account: past the maximum delay the rule is account-rate even when slowed is full', () => {
  const { admit, engine } = setup();
  const a = acct('t2', 0, 'tiny');
  for (let i = 0; i < 4; i++) admit({ ip: '192.0.2.4', account: a, cost: 1 }); // 2 pass, 2 slowed
  engine.slowedEnter('t2');
  assert.equal(asDeny(admit({ ip: '192.0.2.4', account: a, cost: 1 })).rule, 'account-rate');
});

test('account: the budget scales with size within the plan bounds', () => {
  const delayAfterBurst = (size: number): number => {
    const { admit } = setup();
    const a = acct(`size-${size}`, size);
    for (let i = 0; i < 5; i++) admit({ ip: '192.0.2.5', account: a, cost: 1 });
    const d = admit({ ip: '192.0.2.5', account: a, cost: 1 });
    assert.equal(d.outcome, 'delay');
    return d.outcome === 'delay' ? d.delayMs : -1;
  };
  assert.equal(delayAfterBurst(0), 1000); // 60/min
  assert.equal(delayAfterBurst(10), 750); // 80/min
  assert.equal(delayAfterBurst(270), 100); // 600/min, the max
  assert.equal(delayAfterBurst(100_000), 100); // still the max
  assert.equal(delayAfterBurst(-3), 1000); // nonsense size counts as 0
  const { admit } = setup();
  const d = admit({ ip: '192.0.2.5', account: acct('big', 10), cost: 1 });
  assert.equal(d.limits[1].quota, 80);
});

test('account: an unknown plan falls back to the default plan', () => {
  const { admit } = setup();
  const a = acct('mystery', 0, 'no-such-plan');
  for (let i = 0; i < 5; i++)
    assert.equal(admit({ ip: '192.0.2.6', account: a, cost: 1 }).outcome, 'allow');
  assert.equal(admit({ ip: '192.0.2.6', account: a, cost: 1 }).outcome, 'delay');
});

test('the route cost spends the account budget; the IP window counts requests', () => {
  const { admit } = setup();
  const d = admit({ ip: '192.0.2.7', account: acct('costly'), cost: 5 });
  assert.equal(d.outcome, 'allow');
  assert.equal(d.limits[0].remaining, 199);
  assert.equal(d.limits[1].remaining, 0);
  const next = admit({ ip: '192.0.2.7', account: acct('costly'), cost: 2 });
  assert.equal(next.outcome === 'delay' && next.delayMs, 2000);
});

test('many accounts at once are independent', () => {
  const { admit } = setup();
  for (let i = 0; i < 8; i++) admit({ ip: '192.0.2.8', account: acct('flooder'), cost: 1 });
  assert.equal(admit({ ip: '192.0.2.8', account: acct('flooder'), cost: 1 }).outcome, 'deny');
  for (let k = 0; k < 40; k++) {
    for (let i = 0; i < 5; i++) {
      const d = admit({ ip: `10.0.0.${k}`, account: acct(`quiet-${k}`), cost: 1 });
      assert.equal(d.outcome, 'allow', `quiet-${k} request ${i}`);
    }
  }
});

test('a route with its own rate adds a limit and refuses with route-rate', () => {
  const { admit } = setup();
  const route = { name: 'search', rate: perMinute(2) };
  const a = acct('searcher', 1000); // plenty of account budget
  const first = admit({ ip: '192.0.2.9', account: a, cost: 1, route });
  assert.deepEqual(first.limits[2], {
    policy: 'route-search',
    quota: 2,
    windowSec: 60,
    remaining: 1,
    resetSec: 30,
  });
  assert.equal(admit({ ip: '192.0.2.9', account: a, cost: 1, route }).outcome, 'allow');
  const d = asDeny(admit({ ip: '192.0.2.9', account: a, cost: 1, route }));
  assert.equal(d.rule, 'route-rate');
  assert.equal(d.retryAfterMs, 30_000);
  assert.equal(d.counters.route, 'search');
  // Other routes, and the same route for another account, are not affected.
  assert.equal(admit({ ip: '192.0.2.9', account: a, cost: 1 }).outcome, 'allow');
  assert.equal(
    admit({ ip: '192.0.2.9', account: acct('b', 1000), cost: 1, route }).outcome,
    'allow',
  );
});

test('without an account only the IP limit applies', () => {
  const { admit } = setup();
  const d = admit({ ip: '192.0.2.10', cost: 50, route: { name: 'search', rate: perMinute(1) } });
  assert.equal(d.outcome, 'allow');
  assert.deepEqual(
    d.limits.map((l) => l.policy),
    ['ip'],
  );
});

test('setPolicy swaps the policy for the next decisions, keeping the counts', () => {
  const { admit, engine } = setup();
  for (let i = 0; i < 3; i++) admit({ ip: '192.0.2.11', cost: 1 });
  const strict = testPolicy({
    ip: { warn: perMinute(2), block: perMinute(3), concurrency: 32, sharedEgress: [] },
  });
  engine.setPolicy(strict);
  assert.equal(engine.policy, strict);
  assert.equal(asDeny(admit({ ip: '192.0.2.11', cost: 1 })).counters.ipBlock, 3);
  assert.throws(
    () => engine.setPolicy(testPolicy({ defaultPlan: 'gold' })),
    (e) => isSluiceError(e) && e.code === 'SLUICE_ERR_POLICY_INVALID' && /"gold"/.test(e.message),
  );
  assert.equal(engine.policy, strict, 'a rejected policy leaves the current one in place');
});

test('with an asynchronous store the decision is a promise with the same answer', async () => {
  const mem = new MemoryLimitStore();
  const asyncStore: LimitStore = {
    gcra: async (...args) => mem.gcra(...args),
    window: async (...args) => mem.window(...args),
    size: async () => mem.size(),
    close: async () => mem.close(),
  };
  const clock = manualClock(T0);
  const engine = createEngine({ policy: testPolicy(), store: asyncStore, clock });
  const route = { name: 'search', rate: perMinute(1) };
  const a = acct('async-co');
  const outcomes: string[] = [];
  for (let i = 0; i < 3; i++) {
    const d = engine.admit({ ip: '192.0.2.12', account: a, cost: 1, route });
    assert.ok(d instanceof Promise);
    outcomes.push((await d).outcome);
  }
  assert.deepEqual(outcomes, ['allow', 'deny', 'deny']);
  assert.equal(
    ((await engine.admit({ ip: '192.0.2.12', cost: 1 })) as Decision).limits[0].remaining,
    196,
  );
});

test('RateLimit t never exceeds w: the IP window, a burst above the rate, a delayed route', () => {
  // A burst of 20 at 10/min takes 2 min to come back; a route's burst is its whole
  // rate, so a delayed route request is further than one window from a full quota;
  // the IP estimate weighs the previous fixed window, so it lingers up to 2 windows.
  const wide: Plan = {
    ...TINY,
    name: 'wide',
    base: perMinute(10),
    min: perMinute(10),
    max: perMinute(10),
    burst: 20,
    maxDelayMs: 30_000,
    maxSlowed: 100,
  };
  const { admit, clock } = setup(testPolicy({ plans: { standard: STANDARD, wide } }));
  const route = { name: 'search', rate: perMinute(2) };
  const seen: LimitState[] = [];
  for (let i = 0; i < 40; i++) {
    const d = admit({ ip: '192.0.2.50', account: acct('wide', 0, 'wide'), cost: 1, route });
    seen.push(...d.limits);
    clock.advance(1_700);
  }
  assert.ok(seen.some((l) => l.policy === 'route-search'));
  for (const l of seen) {
    assert.ok(l.resetSec >= 0 && l.resetSec <= l.windowSec, `${JSON.stringify(l)}: t > w`);
  }
});
