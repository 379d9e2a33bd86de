/**
 * The test helpers that start real processes clean up after themselves when the start
 * fails: a failure in one file must not keep its process, and `npm test`, waiting.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDemoGateway } from '../helpers/gateway-process.ts';

/** Listening servers in this process (the demo upstream is one). */
const listening = () =>
  process.getActiveResourcesInfo().filter((resource) => resource === 'TCPServerWrap').length;

test('a demo gateway that cannot start leaves no demo upstream listening', async () => {
  const before = listening();
  await assert.rejects(
    startDemoGateway({ args: ['--no-such-option'] }),
    /gateway exited before listening/,
  );
  // A closed server's handle leaves the list a moment after its close: at most a second.
  for (let i = 0; i < 50 && listening() > before; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal(listening(), before, 'the demo upstream was left listening');
});
