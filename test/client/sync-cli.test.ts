/**
 * `sluice-sync`, the package's command, run as a user runs it (its built file, on the
 * pinned Node) against the real gateway process and demo upstream.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  type DemoGateway,
  ROOT,
  sluice,
  startDemoGateway,
  tempDir,
} from '../helpers/gateway-process.ts';
import { bearer, call, eventually } from '../helpers/http.ts';
import { type Ran, runToEnd } from '../helpers/run-to-end.ts';

const CLI = join(ROOT, 'packages', 'client', 'dist', 'cli.js');

function syncCli(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return runToEnd(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    timeoutMs: 30_000,
    what: `sluice-sync ${args.join(' ')}`,
  });
}

let demo: DemoGateway;
before(async () => {
  demo = await startDemoGateway({ accounts: ['acme', 'gone'] });
});
after(() => demo?.stop());

test('bad arguments get one clear line and exit status 2, never a stack trace', async () => {
  const key = { SLUICE_KEY: 'sk_x_y' };
  const cases: [string[], Record<string, string>, RegExp][] = [
    [[], key, /name the collection to sync/],
    [['jobs'], key, /--url is required/],
    [
      ['jobs', '--url', 'ftp://x'],
      key,
      /--url must be an http:\/\/ or https:\/\/ URL, got "ftp:\/\/x"/,
    ],
    [['jobs', '--url', 'http://127.0.0.1:1'], {}, /SLUICE_KEY must hold the API key/],
    [
      ['jobs', '--url', 'http://127.0.0.1:1', '--page-size', '0'],
      key,
      /--page-size must be a whole number/,
    ],
    [['jobs', '--url', 'http://127.0.0.1:1', '--bogus'], key, /Unknown option '--bogus'/],
    [['jobs', 'logs', '--url', 'http://127.0.0.1:1'], key, /one collection at a time/],
    [['../etc', '--url', 'http://127.0.0.1:1'], key, /must be a name like "jobs"/],
  ];
  for (const [args, env, message] of cases) {
    const r = await syncCli(args, env);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /^sluice-sync: .*\(sluice-sync --help for usage\)\n$/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});

test('a gateway that cannot be reached is one line and exit status 1', async () => {
  const r = await syncCli(['jobs', '--url', 'http://127.0.0.1:1', '--out', join(tempDir(), 'x')], {
    SLUICE_KEY: demo.keys.acme,
  });
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /^sluice-sync: failed: .*could not be read: is http:\/\/127\.0\.0\.1:1 a sluice gateway\? \[SLUICE_CLIENT_NO_POLICY\]\n$/,
  );
});

test('sluice-sync syncs a collection with progress and a final line, fetches only changes next time, and resumes from its checkpoint', async () => {
  const dir = tempDir();
  const out = join(dir, 'companies.ndjson');
  const env = { SLUICE_KEY: demo.keys.acme };
  const args = ['companies', '--url', demo.gateway.url, '--out', out, '--page-size', '20'];

  const first = await syncCli([...args, '--force'], env);
  assert.equal(first.code, 0, first.stderr);
  assert.match(
    first.stderr,
    /companies full: 50 records, 3 requests, \d+\.\d s waiting for the limits/,
  );
  assert.match(
    first.stdout,
    /^sluice-sync: done: companies, full sync: 50 records in 3 requests, \d+\.\d s \(\d+\.\d s waiting for the limits, 0 answered 429\); appended to .*companies\.ndjson; checkpoint \d{4}-\d\d-\d\dT[\d:.]+Z in .*companies\.ndjson\.checkpoint\.json\n$/,
  );
  assert.equal(readFileSync(out, 'utf8').trim().split('\n').length, 50);

  const second = await syncCli(args, env);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /done: companies, changes only: 0 records in 1 requests/);

  // A sync stopped after its first page: the checkpoint names the next page, and the run goes on from it.
  const page = (await call(`${demo.upstream.url}/api/companies?limit=20`)).json<{
    nextCursor: string;
  }>();
  const checkpoint = join(dir, 'resume.json');
  writeFileSync(checkpoint, JSON.stringify({ 'sync:companies': { cursor: page.nextCursor } }));
  const resumed = await syncCli(
    [
      'companies',
      '--url',
      demo.gateway.url,
      '--out',
      join(dir, 'rest.ndjson'),
      '--checkpoint',
      checkpoint,
      '--page-size',
      '20',
      '--force',
    ],
    env,
  );
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /full sync: 30 records in 2 requests/);
  const saved = JSON.parse(readFileSync(checkpoint, 'utf8'))['sync:companies'];
  assert.equal(saved.cursor, undefined, 'done: no page left to resume');
  assert.match(saved.since, /^\d{4}-/);
});

test('a revoked key stops sluice-sync: exit status 3 and one line naming the rule and the reference', async () => {
  const keyId = /^sk_([^_]+)_/.exec(demo.keys.gone)![1];
  assert.equal((await sluice(['keys', 'revoke', keyId, '--data', demo.dataDir])).code, 0);
  await eventually(async () => {
    const r = await call(`${demo.gateway.url}/api/whoami`, { headers: bearer(demo.keys.gone) });
    return r.status === 403 ? true : undefined;
  }, 10_000);
  const dir = tempDir();
  const r = await syncCli(
    ['jobs', '--url', demo.gateway.url, '--out', join(dir, 'jobs.ndjson'), '--force'],
    { SLUICE_KEY: demo.keys.gone },
  );
  assert.equal(r.code, 3, r.stderr);
  assert.match(
    r.stderr,
    /^sluice-sync: stopped: halted: GET \/api\/jobs\?limit=100 was answered 403 \(key-revoked\), reference RL-[A-Z0-9]{4}-[A-Z0-9]{4}; no further request is sent\. .* \[SLUICE_CLIENT_HALTED\]\nsluice-sync: the checkpoint in .* is kept; run again once this is fixed\n$/,
  );
  assert.equal(r.stdout, '');
});
