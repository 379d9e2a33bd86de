/**
 * The engine's contract with its limit store (the key layout a shared store keeps, and
 * the namespace fast path only when the store has it), the facts its refusals record in
 * full, the account-slowed/account-rate choice for a request costing more than the
 * burst, and which limiter's delay a request is held for.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manualClock } from '../../src/core/clock.ts';
import { type Decision, type Deny, deny } from '../../src/core/decision.ts';
import { type AdmitInput, createEngine } from '../../src/core/engine.ts';
import type { LimitStore } from '../../src/core/limiter/types.ts';
import { MemoryLimitStore } from '../../src/store/memory-limit-store.ts';
import { perMinute, testPolicy } from './helpers/policy-fixture.ts';

const T0 = 1_767_225_600_000; // a minute boundary

/**
 * A real memory store, with the calls it gets written down; `methods` picks which of the
 * optional namespace methods it offers.
 */
function recordingStore(methods: { gcraIn?: boolean; windowIn?: boolean; prefetch?: boolean }) {
  const mem = new MemoryLimitStore();
  const calls: string[] = [];
  const store: LimitStore = {
    gcra: (key, now, cost, params) => {
      calls.push(`gcra ${key}`);
      return mem.gcra(key, now, cost, params);
    },
    window: (key, now, cost, params) => {
      calls.push(`window ${key}`);
      return mem.window(key, now, cost, params);
    },
    size: () => mem.size(),
    close: () => mem.close(),
  };
  if (methods.gcraIn) {
    store.gcraIn = (ns, id, now, cost, params) => {
      calls.push(`gcraIn ${ns}|${id}`);
      return mem.gcraIn(ns, id, now, cost, params);
    };
  }
  if (methods.windowIn) {
    store.windowIn = (ns, id, now, cost, params) => {
      calls.push(`windowIn ${ns}|${id}`);
      return mem.windowIn(ns, id, now, cost, params);
    };
  }
  if (methods.prefetch) {
    store.prefetch = (wns, wid, gns, gid) => {
      calls.push(`prefetch ${wns}|${wid} ${gns}|${gid}`);
      mem.prefetch(wns, wid, gns, gid);
    };
  }
  return { store, calls };
}

function setup(store: LimitStore = new MemoryLimitStore()) {
  const engine = createEngine({ policy: testPolicy(), store, clock: manualClock(T0) });
  const admit = (input: AdmitInput): Decision => {
    const d = engine.admit(input);
    assert.ok(!(d instanceof Promise));
    return d;
  };
  return { engine, admit };
}

function asDeny(d: Decision): Deny {
  assert.equal(d.outcome, 'deny', `expected a denial, got ${JSON.stringify(d)}`);
  return d as Deny;
}

const INPUT: AdmitInput = {
  ip: '192.0.2.1',
  account: { id: 'acme', size: 0, plan: 'standard' },
  cost: 1,
  route: { name: 'search', rate: perMinute(100) },
};

test('the store keys are ip:<ip>, acct:<id> and route:<name>:<id>, by whole key without the fast path', () => {
  const { store, calls } = recordingStore({});
  setup(store).admit(INPUT);
  assert.deepEqual(calls, ['window ip:192.0.2.1', 'gcra acct:acme', 'gcra route:search:acme']);
});

test('a store with the namespace methods gets the namespace and id apart, after a prefetch', () => {
  const { store, calls } = recordingStore({ gcraIn: true, windowIn: true, prefetch: true });
  setup(store).admit(INPUT);
  assert.deepEqual(calls, [
    'prefetch ip:|192.0.2.1 acct:|acme',
    'windowIn ip:|192.0.2.1',
    'gcraIn acct:|acme',
    'gcraIn route:|search:acme',
  ]);
  calls.length = 0;
  setup(store).admit({ ip: '192.0.2.2', cost: 1 });
  assert.deepEqual(calls, ['windowIn ip:|192.0.2.2'], 'no prefetch without an account');
});

test('the fast path needs both namespace methods, and the prefetch needs the fast path', () => {
  for (const methods of [
    { gcraIn: true, prefetch: true },
    { windowIn: true, prefetch: true },
  ]) {
    const { store, calls } = recordingStore(methods);
    setup(store).admit(INPUT);
    assert.deepEqual(
      calls,
      ['window ip:192.0.2.1', 'gcra acct:acme', 'gcra route:search:acme'],
      JSON.stringify(methods),
    );
  }
  const { store, calls } = recordingStore({ gcraIn: true, windowIn: true });
  setup(store).admit(INPUT);
  assert.equal(calls[0], 'windowIn ip:|192.0.2.1', 'no prefetch when the store has none');
});

test('account-rate and account-slowed record the whole budget; route-rate its rate and period', () => {
  const { admit, engine } = setup();
  const tiny = { id: 'tiny-co', size: 3, plan: 'tiny' }; // 60/min, burst 2, maxDelay 2 s
  for (let i = 0; i < 4; i++) admit({ ip: '192.0.2.3', account: tiny, cost: 1 });
  const rate = asDeny(admit({ ip: '192.0.2.3', account: tiny, cost: 1 }));
  assert.equal(rate.rule, 'account-rate');
  assert.deepEqual(rate.counters, {
    account: 'tiny-co',
    plan: 'tiny',
    size: 3,
    rate: 60,
    periodSec: 60,
    burst: 2,
    cost: 1,
    maxDelayMs: 2_000,
  });
  engine.slowedEnter('tiny-co');
  const slowed = asDeny(admit({ ip: '192.0.2.3', account: tiny, cost: 1 }));
  assert.equal(slowed.rule, 'account-rate', 'still past the maximum delay');

  const other = { id: 'other', size: 0, plan: 'tiny' };
  admit({ ip: '192.0.2.3', account: other, cost: 2 });
  engine.slowedEnter('other');
  const full = asDeny(admit({ ip: '192.0.2.3', account: other, cost: 1 }));
  assert.equal(full.rule, 'account-slowed');
  assert.deepEqual(full.counters, {
    account: 'other',
    plan: 'tiny',
    size: 0,
    rate: 60,
    periodSec: 60,
    burst: 2,
    cost: 1,
    slowed: 1,
    maxSlowed: 1,
  });

  const route = { name: 'export', rate: perMinute(1) };
  const big = { id: 'big', size: 100, plan: 'standard' };
  admit({ ip: '192.0.2.4', account: big, cost: 1, route });
  const routeRate = asDeny(admit({ ip: '192.0.2.4', account: big, cost: 1, route }));
  assert.equal(routeRate.rule, 'route-rate');
  assert.deepEqual(routeRate.counters, {
    route: 'export',
    account: 'big',
    routeRate: 1,
    periodSec: 60,
  });
});

test('slowed full, a request costing more than the burst: account-slowed only if it would otherwise pass', () => {
  const { admit, engine } = setup();
  // tiny: burst 2, one request a second. Cost 5 needs 3 s beyond the burst whatever happens.
  const fresh = { id: 'fresh', size: 0, plan: 'tiny' };
  engine.slowedEnter('fresh');
  const waitOnly = asDeny(admit({ ip: '192.0.2.5', account: fresh, cost: 5 }));
  assert.equal(waitOnly.rule, 'account-slowed', 'not slowed full, it would be held 3 s');

  const used = { id: 'used', size: 0, plan: 'tiny' };
  admit({ ip: '192.0.2.5', account: used, cost: 1 });
  engine.slowedEnter('used');
  // 1 s already spent: 4 s in all, past the 3 s it could ever be held.
  const past = asDeny(admit({ ip: '192.0.2.5', account: used, cost: 5 }));
  assert.equal(past.rule, 'account-rate');
  assert.equal(past.retryAfterMs, 1_000);
});

test('a request is held for the longer of the account and the route delay, named by its limiter', () => {
  const { admit } = setup();
  // The route (2/min: one every 30 s, burst 2) is the one that delays, at T0 + 29 s.
  const route = { name: 'search', rate: perMinute(2) };
  const big = { id: 'big', size: 100, plan: 'standard' };
  const clock = manualClock(T0); // a clock of its own, to move
  const e2 = createEngine({ policy: testPolicy(), store: new MemoryLimitStore(), clock });
  e2.admit({ ip: '192.0.2.6', account: big, cost: 1, route });
  e2.admit({ ip: '192.0.2.6', account: big, cost: 1, route });
  clock.advance(29_000);
  assert.deepEqual(pick(e2.admit({ ip: '192.0.2.6', account: big, cost: 1, route }) as Decision), {
    outcome: 'delay',
    delayMs: 1_000,
    rule: 'route-rate',
  });
  // The account (60/min, burst 5) is the one that delays; the route has room.
  const wide = { name: 'list', rate: perMinute(600) };
  const small = { id: 'small', size: 0, plan: 'standard' };
  for (let i = 0; i < 5; i++) admit({ ip: '192.0.2.7', account: small, cost: 1, route: wide });
  assert.deepEqual(pick(admit({ ip: '192.0.2.7', account: small, cost: 1, route: wide })), {
    outcome: 'delay',
    delayMs: 1_000,
    rule: 'account-rate',
  });
});

function pick(d: Decision) {
  return d.outcome === 'delay'
    ? { outcome: d.outcome, delayMs: d.delayMs, rule: d.rule }
    : { outcome: d.outcome };
}

test('with an asynchronous store, an account request with no route rate is decided too', async () => {
  const mem = new MemoryLimitStore();
  const asyncStore: LimitStore = {
    gcra: async (...args) => mem.gcra(...args),
    window: async (...args) => mem.window(...args),
    size: async () => mem.size(),
    close: async () => mem.close(),
  };
  const engine = createEngine({ policy: testPolicy(), store: asyncStore, clock: manualClock(T0) });
  const account = { id: 'async-co', size: 0, plan: 'standard' };
  for (const route of [undefined, { name: 'plain' }]) {
    const d = await engine.admit({ ip: '192.0.2.8', account, cost: 1, route });
    assert.equal(d.outcome, 'allow');
    assert.deepEqual(
      d.limits.map((l) => l.policy),
      ['ip', 'account'],
    );
  }
  // Past the burst of 5 (two spent above), the account's delay, named by its rule.
  for (let i = 0; i < 3; i++) await engine.admit({ ip: '192.0.2.8', account, cost: 1 });
  assert.deepEqual(pick(await engine.admit({ ip: '192.0.2.8', account, cost: 1 })), {
    outcome: 'delay',
    delayMs: 1_000,
    rule: 'account-rate',
  });
});

test('a denial built without limits or status has none and is a 429', () => {
  assert.deepEqual(deny('key-missing', 0, {}), {
    outcome: 'deny',
    rule: 'key-missing',
    status: 429,
    retryAfterMs: 0,
    limits: [],
    counters: {},
    warning: undefined,
  });
});

test("a batch route's refusal says it is batch, and a listing route names its incremental filter", () => {
  const { admit } = setup();
  const acct = { id: 'facts', size: 100, plan: 'standard' };
  const batch = { name: 'reindex', rate: perMinute(1), batch: true };
  admit({ ip: '192.0.2.5', account: acct, cost: 1, route: batch });
  assert.deepEqual(
    asDeny(admit({ ip: '192.0.2.5', account: acct, cost: 1, route: batch })).counters,
    {
      route: 'reindex',
      account: 'facts',
      routeRate: 1,
      periodSec: 60,
      routeClass: 'batch',
    },
  );
  const listing = { name: 'list', rate: perMinute(1), batch: false, incremental: 'since' };
  admit({ ip: '192.0.2.5', account: acct, cost: 1, route: listing });
  assert.deepEqual(
    asDeny(admit({ ip: '192.0.2.5', account: acct, cost: 1, route: listing })).counters,
    {
      route: 'list',
      account: 'facts',
      routeRate: 1,
      periodSec: 60,
      incremental: 'since',
    },
  );
});

test("an account's standing: its own plan, the delay its next request would have, each rated route's budget as used", () => {
  const { admit, engine } = setup();
  const tiny = { id: 'standing-tiny', size: 0, plan: 'tiny' };
  const s0 = engine.standing(tiny, []);
  assert.ok(!(s0 instanceof Promise));
  assert.equal(s0.plan.name, 'tiny');
  // standard: 60/min (one a second), burst 5. Seven at once: the last two are held.
  const acct = { id: 'standing', size: 0, plan: 'standard' };
  const route = { name: 'export', rate: perMinute(10) };
  for (let i = 0; i < 7; i++) admit({ ip: '192.0.2.6', account: acct, cost: 1, route });
  const s = engine.standing(acct, [route]);
  assert.ok(!(s instanceof Promise));
  // The state is 7 s ahead; a request conforms within the burst (4 s): held 3 s.
  assert.equal(s.delayMs, 3_000);
  assert.deepEqual(s.routes, [
    { policy: 'route-export', quota: 10, windowSec: 60, remaining: 3, resetSec: 42 },
  ]);
});
