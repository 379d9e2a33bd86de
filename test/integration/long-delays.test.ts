/**
 * Delays longer than a Node timer can hold (2^31 − 1 ms, 24.8 days). A request that
 * costs more than the burst at a slow rate has an unavoidable delay of that order even
 * with a short maxDelay: it must be held, not forwarded at once by an overflowing timer.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  type DemoGateway,
  type GatewayProcess,
  startDemoGateway,
} from '../helpers/gateway-process.ts';
import { bearer, call } from '../helpers/http.ts';

let demo: DemoGateway;
let gateway: GatewayProcess;
let upstream: DemoGateway['upstream'];
let key: string;

before(async () => {
  demo = await startDemoGateway({
    policy: `plans:
  standard: { base: 1/30d, perUnit: 0/30d, min: 1/30d, max: 1/30d, burst: 1, maxDelay: 10s }
routes:
  - { name: heavy, path: /api/companies, cost: 2 }
`,
    accounts: ['slow-co'],
  });
  ({ gateway, upstream } = demo);
  key = demo.keys['slow-co'];
});

after(() => demo?.stop());

test('a request whose unavoidable delay is 30 days is held, not forwarded at once', async () => {
  await call(`${upstream.url}/_test/hits/reset`, { method: 'POST' });
  const held = new AbortController();
  const answer = fetch(`${gateway.url}/api/companies?limit=1`, {
    headers: bearer(key),
    signal: held.signal,
  }).then(
    (r) => r.status,
    () => 'held',
  );
  const early = await Promise.race([
    answer,
    new Promise((r) => setTimeout(() => r('held'), 1_500)),
  ]);
  held.abort();
  assert.equal(early, 'held', 'answered within 1.5 s: the 30-day timer fired at once');
  assert.equal((await call(`${upstream.url}/_test/hits`)).json<{ total: number }>().total, 0);
});
