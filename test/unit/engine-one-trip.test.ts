/**
 * A store that offers `windowThenGcra` (the Redis store) gets one call per keyed
 * decision for the IP window and the account budget together, and the decisions are
 * exactly the ones the two separate steps give.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manualClock } from '../../src/core/clock.ts';
import { type AdmitInput, createEngine } from '../../src/core/engine.ts';
import type { LimitStore } from '../../src/core/limiter/types.ts';
import { MemoryLimitStore } from '../../src/store/memory-limit-store.ts';
import { perMinute, testPolicy } from './helpers/policy-fixture.ts';

const T0 = 1_767_225_600_000;

/** A memory store answering with promises, offering windowThenGcra, with its calls written down. */
function pairStore() {
  const mem = new MemoryLimitStore();
  const calls: string[] = [];
  const store: LimitStore = {
    gcra: async (key, now, cost, params) => {
      calls.push(`gcra ${key}`);
      return mem.gcra(key, now, cost, params);
    },
    window: async (key, now, cost, params) => {
      calls.push(`window ${key}`);
      return mem.window(key, now, cost, params);
    },
    windowThenGcra: async (wKey, w, gKey, cost, g, now) => {
      calls.push(`windowThenGcra ${wKey} ${gKey}`);
      const window = mem.window(wKey, now, 1, w);
      return { window, gcra: window.allowed ? mem.gcra(gKey, now, cost, g) : undefined };
    },
    size: () => mem.size(),
    close: () => mem.close(),
  };
  return { store, calls };
}

test('a keyed decision is one windowThenGcra call (then the route step); a keyless one the window alone', async () => {
  const { store, calls } = pairStore();
  const engine = createEngine({ policy: testPolicy(), store, clock: manualClock(T0) });
  await engine.admit({
    ip: '192.0.2.1',
    account: { id: 'acme', size: 0, plan: 'standard' },
    cost: 1,
    route: { name: 'search', rate: perMinute(100) },
  });
  await engine.admit({ ip: '192.0.2.2', cost: 1 });
  assert.deepEqual(calls, [
    'windowThenGcra ip:192.0.2.1 acct:acme',
    'gcra route:search:acme',
    'window ip:192.0.2.2',
  ]);
});

test('decisions through windowThenGcra equal those of the separate steps (IP blocks, delays, refusals)', async () => {
  const policy = testPolicy({
    ip: { warn: perMinute(6), block: perMinute(9), concurrency: 32, sharedEgress: [] },
  });
  const clockA = manualClock(T0);
  const clockB = manualClock(T0);
  const paired = createEngine({ policy, store: pairStore().store, clock: clockA });
  const plain = createEngine({ policy, store: new MemoryLimitStore(), clock: clockB });
  const accounts = ['acme', 'tiny-co'];
  for (let i = 0; i < 120; i++) {
    const input: AdmitInput = {
      ip: `192.0.2.${i % 3}`,
      account:
        i % 5 === 4
          ? undefined
          : { id: accounts[i % 2], size: 3, plan: i % 2 ? 'tiny' : 'standard' },
      cost: 1 + (i % 3),
    };
    assert.deepEqual(await paired.admit(input), await plain.admit(input), `request ${i}`);
    clockA.advance(250);
    clockB.advance(250);
  }
});
