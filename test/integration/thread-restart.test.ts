/**
 * A replacement thread that fails to start is tried again, waiting longer each time, with
 * a log line per failure, until one starts (issue 12). The real threaded gateway
 * (buildThreadedApp, two worker threads) in front of the real demo upstream; a thread is
 * crashed through the admin API's test route and the next two replacements are made to
 * fail to start (`failReplacements`, as a thread whose store or listen fails would).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { withServerOverrides } from '../../src/core/policy/override.ts';
import { parsePolicyText } from '../../src/core/policy/parse.ts';
import { type DemoUpstream, startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { createLogger } from '../../src/gateway/logger.ts';
import { openSqliteRecordStore } from '../../src/store/sqlite-record-store.ts';
import { buildThreadedApp } from '../../src/threads/supervisor.ts';
import { bearer, call } from '../helpers/http.ts';

const TOKEN = 'thread-restart-admin-token-0123456789';
let upstream: DemoUpstream;
let dataDir: string;

before(async () => {
  upstream = await startDemoUpstream();
  dataDir = mkdtempSync(join(tmpdir(), 'sluice-thread-restart-'));
});

after(async () => {
  await upstream.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test('a replacement that fails to start is tried again with back-off until one starts', async () => {
  const lines: string[] = [];
  const logger = createLogger({
    level: 'info',
    destination: new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).trim().split('\n'));
        done();
      },
    }) as never,
  });
  const policy = withServerOverrides(parsePolicyText('', 'test'), {
    listen: '127.0.0.1:0',
    upstream: upstream.url,
    dataDir,
  });
  const app = await buildThreadedApp({
    policy,
    recordStore: openSqliteRecordStore(dataDir),
    logger,
    threads: 2,
    logLevel: 'silent',
    admin: { host: '127.0.0.1', port: 0, token: TOKEN },
    debug: true,
    restartBackoffMs: 50,
    failReplacements: 2,
  });
  try {
    const { url, adminUrl } = await app.listen();
    const crash = await call(`${adminUrl}/debug/threads/1/crash`, {
      method: 'POST',
      headers: bearer(TOKEN),
    });
    assert.equal(crash.status, 200, crash.body);

    const events = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const started = Date.now();
    while (!events().some((e) => e.event === 'thread-replaced')) {
      assert.ok(
        Date.now() - started < 20_000,
        `lane 1 is replaced within 20 s: ${lines.join('\n')}`,
      );
      await new Promise((r) => setTimeout(r, 50));
    }
    const failed = events().filter((e) => e.event === 'thread-start-failed');
    assert.deepEqual(
      failed.map((e) => [e.thread, e.attempt, e.retryInMs]),
      [
        [1, 1, 50],
        [1, 2, 100],
      ],
    );
    const replaced = events().find((e) => e.event === 'thread-replaced');
    assert.equal(replaced?.attempt, 3);
    // Both threads serve again.
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => call(`${url}/api/companies/cmp-0001`)),
    );
    assert.ok(
      answers.every((a) => a.status === 200),
      answers.map((a) => a.status).join(' '),
    );
  } finally {
    await app.close();
  }
});
