/**
 * Delays longer than a Node timer can hold (2^31 − 1 ms, 24.8 days). A request that
 * costs more than the burst at a slow rate has an unavoidable delay of that order even
 * with a short maxDelay: it must be held, not forwarded at once by an overflowing timer.
 *
 * The gateway arms the hold on its injected clock: here a manual one, advanced by 30
 * days in-process. That the system clock's timer really holds such a wait (in steps of
 * one Node timer each) is pinned in test/unit/clock.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type DemoUpstream, startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { call } from '../helpers/http.ts';
import {
  type InProcessGateway,
  startInProcessGateway,
  until,
} from '../helpers/in-process-gateway.ts';

const DAY = 86_400_000;
let upstream: DemoUpstream;
let gw: InProcessGateway;

before(async () => {
  upstream = await startDemoUpstream();
  gw = await startInProcessGateway({
    upstream: upstream.url,
    policy: `plans:
  standard: { base: 1/30d, perUnit: 0/30d, min: 1/30d, max: 1/30d, burst: 1, maxDelay: 10s }
routes:
  - { name: heavy, path: /api/companies, cost: 2 }
`,
  });
});

after(async () => {
  await gw?.close();
  await upstream?.close();
});

test('a request whose unavoidable delay is 30 days is held 30 days, not forwarded at once', async () => {
  await call(`${upstream.url}/_test/hits/reset`, { method: 'POST' });
  const hits = async () =>
    (await call(`${upstream.url}/_test/hits`)).json<{ total: number }>().total;
  const { key } = gw.addKey('slow-co');
  const answer = gw.call('/api/companies?limit=1', { key });
  await until(() => gw.clock.pending() === 1, 'the hold is armed');
  gw.clock.advance(30 * DAY - 1);
  assert.equal(gw.clock.pending(), 1, 'still held 1 ms before 30 days');
  assert.equal(await hits(), 0);
  gw.clock.advance(1);
  const held = await answer;
  assert.equal(held.status, 200);
  assert.equal(held.headers['sluice-delay-ms'], String(30 * DAY));
  assert.equal(await hits(), 1);
});
