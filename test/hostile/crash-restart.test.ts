/**
 * A hostile probe's finding, as a test: the gateway is killed (`kill -9`) in the middle of
 * a flood of refusals from many IPs, each refusal starting a new incident, and restarted
 * on the same data directory. Every reference code a client received must be found,
 * with its rule and subject: none may live only in the memory of the dead process.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { request } from 'node:http';
import { after, test } from 'node:test';
import { startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { openSqliteRecordStore } from '../../src/store/sqlite-record-store.ts';
import {
  type GatewayProcess,
  sluice,
  startGateway,
  tempDir,
  writePolicy,
} from '../helpers/gateway-process.ts';

/** One GET from `localAddress`, on its own connection; the answer's status and body. */
function get(url: string, localAddress: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/api/companies/1`, { localAddress, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.setTimeout(5_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** The n-th loopback address past 127.0.0.1 (127.0.0.2, …, 127.0.1.0, …). */
function loopback(n: number): string {
  const x = n + 2;
  return `127.${(x >> 16) & 255}.${(x >> 8) & 255}.${x & 255}`;
}

const upstream = await startDemoUpstream({});
after(() => upstream.close());

test('kill -9 mid-flood, restart: every reference code a client received is found', async () => {
  const data = tempDir('sluice-crash-');
  // Two requests a minute per IP: each IP's third request is refused and starts a new
  // incident, so the flood hands out new codes until the kill.
  const config = writePolicy(data, 'ip:\n  warn: 1/min\n  block: 2/min\n');
  const args = ['--config', config, '--data', data, '--upstream', upstream.url];
  const gateway: GatewayProcess = await startGateway(args);
  const received = new Map<string, string>(); // code → the IP it was given to
  let stop = false;
  let next = 0;
  let killedAt = 0;
  let lastCodeAt = 0;

  async function worker() {
    while (!stop && next < 60_000) {
      const ip = loopback(next++);
      try {
        await get(gateway.url, ip);
        await get(gateway.url, ip);
        const refused = await get(gateway.url, ip);
        const reference = (JSON.parse(refused.body) as { reference?: string }).reference;
        if (refused.status === 429 && reference !== undefined) {
          received.set(reference, ip);
          lastCodeAt = performance.now();
        }
      } catch {
        // Connections refused or reset once the gateway is dead: nothing was received.
        if (killedAt > 0) return;
      }
    }
  }

  const workers = Array.from({ length: 16 }, () => worker());
  // Kill while answers are still coming: after enough codes, bounded in time either way.
  const started = performance.now();
  while (received.size < 400 && performance.now() - started < 15_000) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  gateway.child.kill('SIGKILL');
  killedAt = performance.now();
  await Promise.all(workers);
  stop = true;
  await gateway.stop();
  assert.ok(received.size >= 100, `the flood got ${received.size} codes before the kill`);
  assert.ok(killedAt - lastCodeAt < 1_000, 'codes were still being handed out at the kill');

  // Support finds a code the dead gateway had not saved even before it is back (from
  // its journal), and the last one handed out.
  const before = openSqliteRecordStore(data);
  const unsaved = [...received.keys()].filter((r) => before.getIncident(r) === undefined);
  before.close();
  const last = [...received.keys()].at(-1) as string;
  for (const reference of new Set([unsaved[0] ?? last, last])) {
    const r = await sluice(['incident', reference, '--data', data]);
    assert.equal(r.code, 0, `sluice incident ${reference} before the restart: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`${reference}[\\s\\S]*IP ${received.get(reference)}`));
    if (unsaved.includes(reference)) assert.match(r.stdout, /saved +not yet/);
  }

  // Restarted on the same directory: whatever the dead process held only in memory must
  // be found now.
  const dead = gateway.child.pid;
  const restarted = await startGateway(args);
  let fresh = { status: 0, body: '{}' };
  try {
    assert.deepEqual(
      readdirSync(data).filter((f) => f.startsWith(`incidents.${dead}.`)),
      [],
      "the dead gateway's journal files are replayed and deleted before serving",
    );
    const store = openSqliteRecordStore(data);
    try {
      const missing: string[] = [];
      for (const [reference, ip] of received) {
        const incident = store.getIncident(reference);
        if (incident === undefined) {
          missing.push(reference);
          continue;
        }
        assert.equal(incident.rule, 'ip-block', reference);
        assert.equal(incident.subject.ip, ip, reference);
        assert.ok(incident.count >= 1 && incident.startedAt > 0, reference);
      }
      assert.deepEqual(
        missing,
        [],
        `${missing.length} of ${received.size} codes clients received are lost`,
      );
    } finally {
      store.close();
    }
    // Support's own look-up finds the last codes handed out before the kill.
    for (const reference of [...received.keys()].slice(-3)) {
      const r = await sluice(['incident', reference, '--data', data]);
      assert.equal(r.code, 0, `sluice incident ${reference}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, new RegExp(reference));
    }
    // One more incident on the restarted gateway, for the graceful stop below.
    for (let i = 0; i < 3; i++) fresh = await get(restarted.url, loopback(next + 1));
  } finally {
    assert.equal(await restarted.stop(), 0);
  }
  const reference = (JSON.parse(fresh.body) as { reference: string }).reference;
  const store = openSqliteRecordStore(data);
  assert.equal(store.getIncident(reference)?.subject.ip, loopback(next + 1));
  store.close();
  assert.match(restarted.output(), /incident journal replayed/);
  assert.deepEqual(
    readdirSync(data).filter((f) => f.endsWith('.journal')),
    [],
    'a graceful stop saves every incident and leaves no journal behind',
  );
});
