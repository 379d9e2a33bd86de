/** A safeguard in dry-run records what it would do, and does not do it. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TOLD_NO_GRACE_MS } from '../../src/core/safeguard/observer.ts';
import { startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { openSqliteRecordStore } from '../../src/store/sqlite-record-store.ts';
import {
  createKey,
  type GatewayProcess,
  sluice,
  startGateway,
  tempDir,
  writePolicy,
} from '../helpers/gateway-process.ts';
import { bearer, call, eventually } from '../helpers/http.ts';

let upstream: Awaited<ReturnType<typeof startDemoUpstream>>;
let gateway: GatewayProcess;
let dataDir: string;

before(async () => {
  upstream = await startDemoUpstream({});
  dataDir = tempDir();
  const policy = writePolicy(
    dataDir,
    `
server: { upstream: "${upstream.url}" }
plans:
  standard: { base: 60/min, perUnit: 0/min, min: 60/min, max: 60/min, burst: 1, maxDelay: 0s, maxSlowed: 1, concurrency: 10, queue: 10 }
safeguards:
  ignoring429: { threshold: 3, window: 1m, action: suspend, durations: [1h], dryRun: true }
`,
  );
  gateway = await startGateway(['--config', policy, '--data', dataDir]);
});

after(async () => {
  await gateway?.stop();
  await upstream?.close();
});

test('a dry-run rule records an incident and an audit entry, and the key keeps working', async () => {
  const { key, id } = await createKey(dataDir, 'acct-dry');
  const get = async () =>
    (await call(`${gateway.url}/api/companies?limit=1`, { headers: bearer(key) })).status;
  assert.deepEqual([await get(), await get()], [200, 429]);
  // Only 429s sent once the client could have read the first count (a real-clock gateway).
  await new Promise((resolve) => setTimeout(resolve, TOLD_NO_GRACE_MS + 100));
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) statuses.push(await get());
  assert.ok(!statuses.includes(403), `never suspended: no 403 in ${statuses}`);
  assert.ok(statuses.filter((s) => s === 429).length >= 3, `enough 429s: ${statuses}`);
  const store = openSqliteRecordStore(dataDir);
  try {
    const entry = await eventually(async () =>
      (await store.listAudit({ keyId: id })).find((a) => a.action === 'dry-run key-suspend'),
    );
    assert.equal(entry.actor, 'sluice');
    assert.equal((await store.getKey(id))?.status, 'active');
    const incident = await eventually(async () =>
      entry.reference ? await store.getIncident(entry.reference) : undefined,
    );
    assert.equal(incident.rule, 'safeguard-ignoring-429');
    assert.equal(incident.counters.dryRun, 'yes');

    // What support reads: `sluice incident` says nothing was done, never that it was.
    const shown = await sluice(['incident', incident.reference, '--data', dataDir]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(
      shown.stdout,
      new RegExp(
        `Dry run, nothing was done: API key ${id} of account acct-dry would have been suspended for 1 hour \\(until \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\)\\.`,
      ),
    );
    assert.doesNotMatch(shown.stdout, /was suspended/);
    // An action, not a run of refusals that could still be "ongoing".
    assert.match(shown.stdout, /^ {2}status {4}an action, taken once/m);
    assert.doesNotMatch(shown.stdout, /ongoing/);
    // The reason is said once, in Why, not again as a repeated note.
    const why = shown.stdout.slice(
      shown.stdout.indexOf('\nWhy\n'),
      shown.stdout.indexOf('\nWhat to change'),
    );
    assert.doesNotMatch(why, /dry run:/i, 'the note is not repeated in Why');
  } finally {
    await store.close();
  }
});
