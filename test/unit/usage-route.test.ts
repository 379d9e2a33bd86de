/**
 * The usage route built alone, on a real loopback node:http server, the real engine and
 * memory stores on the manual clock: with stores that answer at once (memory, SQLite) the
 * page is written before the route returns, with no promise in between (a flood of usage
 * requests costs no microtask per read). The page itself is checked end to end in
 * test/integration/usage-endpoint.test.ts.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { manualClock } from '../../src/core/clock.ts';
import { createEngine } from '../../src/core/engine.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import { compileRuntime } from '../../src/gateway/runtime.ts';
import { createUsageRoute, USAGE_PATH } from '../../src/gateway/usage-route.ts';
import { MemoryLimitStore } from '../../src/store/memory-limit-store.ts';
import { MemoryRecordStore } from '../../src/store/memory-record-store.ts';
import { testAnswer } from './helpers/answer-parts.ts';

const T0 = Date.UTC(2026, 0, 5, 12);

test('with stores that answer at once, the usage page is written before the route returns', async (t) => {
  const clock = manualClock(T0);
  const policy = parsePolicyText('', 'test-policy.yaml', {});
  const runtime = compileRuntime(policy);
  const records = new MemoryRecordStore();
  const logger = createLogger({ level: 'silent' });
  const { answer } = testAnswer(t, { store: records, clock, logger });
  const engine = createEngine({ policy, store: new MemoryLimitStore(), clock });
  const usage = createUsageRoute({ engine, records, clock, logger });
  const account = { id: 'acme', size: 0, plan: policy.defaultPlan };
  const endedOnReturn: boolean[] = [];
  const server = createServer((req, res) => {
    const ip = '127.0.0.1';
    const caller = {
      ip,
      ipScope: ip,
      arrivedAt: clock.now(),
      subject: { accountId: account.id, ip },
      account,
      plan: policy.plans[account.plan],
    };
    usage({ req, res, caller, runtime }, answer);
    endedOnReturn.push(res.writableEnded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  const page = await fetch(`http://127.0.0.1:${port}${USAGE_PATH}`);
  assert.equal(page.status, 200);
  const body = (await page.json()) as { account: string; at: string };
  assert.equal(body.account, 'acme');
  assert.equal(body.at, new Date(T0).toISOString());
  assert.deepEqual(endedOnReturn, [true]);
});
