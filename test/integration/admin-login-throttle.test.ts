/**
 * Failed admin logins on a real admin listener: each is logged (IP and route, never the
 * token tried), and the 10th within a minute from one IP locks it out with 429 and
 * Retry-After, even for the right token, so a guess cannot be confirmed meanwhile.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildApp } from '../../src/app.ts';
import { compilePolicy } from '../../src/core/policy/compile.ts';
import { startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import { openSqliteRecordStore } from '../../src/store/sqlite-record-store.ts';
import { tempDir } from '../helpers/gateway-process.ts';
import { call } from '../helpers/http.ts';
import { until } from '../helpers/in-process-gateway.ts';

const TOKEN = 'admin-token-for-throttle-tests-0123';
const lines: string[] = [];
let upstream: Awaited<ReturnType<typeof startDemoUpstream>>;
let app: Awaited<ReturnType<typeof buildApp>>;
let adminUrl: string;

before(async () => {
  upstream = await startDemoUpstream({});
  app = await buildApp({
    policy: compilePolicy(
      { server: { listen: '127.0.0.1:0', upstream: upstream.url } },
      'throttle-test',
    ),
    recordStore: openSqliteRecordStore(tempDir()),
    logger: createLogger({ destination: { write: (line: string) => void lines.push(line) } }),
    admin: { host: '127.0.0.1', port: 0, token: TOKEN },
  });
  adminUrl = (await app.listen()).adminUrl!;
});

after(async () => {
  await app?.close();
  await upstream?.close();
});

const admin = (path: string, token: string) =>
  call(`${adminUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });

test('ten wrong tokens in a minute lock the IP out for 5 minutes; every failure is logged', async () => {
  assert.equal((await admin('/metrics', TOKEN)).status, 200);
  for (let i = 0; i < 10; i++) {
    const wrong = await admin(i % 2 ? '/metrics' : '/admin/keys?account=x', `guess-number-${i}`);
    assert.equal(wrong.status, 401, `attempt ${i + 1}`);
  }
  const locked = await admin('/metrics', TOKEN);
  assert.equal(locked.status, 429, 'locked out, even with the right token');
  assert.match(locked.headers['content-type'], /^application\/problem\+json/);
  assert.equal(locked.headers['retry-after'], '300');
  assert.equal(locked.json<{ status: number }>().status, 429);
  assert.equal((await admin('/healthz', '')).status, 200, '/healthz needs no token');

  // Waited for, not slept on: the lockout's log line is the last one written.
  await until(() => lines.some((l) => l.includes('admin-locked-out')), 'the lockout is logged');
  const failures = lines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.event === 'admin-auth-failed');
  assert.equal(failures.length, 10);
  assert.deepEqual(
    { ip: failures[0].ip, route: failures[0].route, failures: failures[0].failures },
    { ip: '127.0.0.1', route: '/admin/keys', failures: 1 },
  );
  assert.equal(failures[9].failures, 10);
  assert.ok(
    lines.some((l) => l.includes('admin-locked-out')),
    'the lockout is logged',
  );
  assert.ok(!lines.some((l) => l.includes('guess-number')), 'no token tried is ever logged');
});
