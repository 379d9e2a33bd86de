/**
 * docs/adopting.md, run as written: its files (`<!-- file: NAME -->` blocks: the policy
 * built up step by step, the partners' CSV and JSON lines) are written as they are, and
 * its commands (`<!-- run: NAME -->` blocks) run in bash in the page's order against a
 * real spawned gateway in front of the real demo API. Each step must do what the page
 * says: the upstream sees the partner's Host and key, imported keys work and re-importing
 * changes nothing, shadow mode lets a burst through with `Sluice-Shadow`, the report
 * names the would-be refusals, SIGHUP to enforce makes the same burst slowed or refused,
 * and the partner reads its own usage. Every block of the page is used, so the page
 * cannot drift from what this test runs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type DemoUpstream, startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { type GatewayProcess, ROOT, startGateway, tempDir } from '../helpers/gateway-process.ts';
import { call, eventually } from '../helpers/http.ts';
import { runToEnd } from '../helpers/run-to-end.ts';

interface Block {
  kind: 'file' | 'run';
  name: string;
  text: string;
}

const PAGE = readFileSync(join(ROOT, 'docs', 'adopting.md'), 'utf8');

/** The page's marked blocks, in page order. */
const BLOCKS: Block[] = [
  ...PAGE.matchAll(/<!-- (file|run): ([\w.-]+) -->\n```\w*\n([\s\S]*?)```/g),
].map((m) => ({ kind: m[1] as Block['kind'], name: m[2]!, text: m[3]! }));

const used = new Set<Block>();

/** The marked blocks named `name` (a file may be built from several). */
function blocks(kind: Block['kind'], name: string): Block[] {
  const found = BLOCKS.filter((b) => b.kind === kind && b.name === name);
  assert.ok(found.length > 0, `docs/adopting.md has a "${kind}: ${name}" block`);
  for (const b of found) used.add(b);
  return found;
}

const BIN = join(ROOT, 'bin', 'sluice.js');

/** Runs a command block of the page as an operator would, `npx sluice` being this checkout's. */
async function run(name: string): Promise<{ code: number; out: string; err: string }> {
  const [block] = blocks('run', name);
  const script = block!.text.replaceAll('npx sluice ', `"${process.execPath}" "${BIN}" `);
  const r = await runToEnd('bash', ['-euo', 'pipefail', '-c', script], {
    cwd,
    env: { ...process.env, ...env },
    timeoutMs: 60_000,
    what: `"${name}"\n${script}\n`,
  });
  return { code: r.code, out: r.stdout, err: r.stderr };
}

async function runOk(name: string): Promise<string> {
  const r = await run(name);
  assert.equal(r.code, 0, `"${name}" failed:\n${r.out}\n${r.err}`);
  return r.out;
}

/** Waits until the gateway has logged its `count`-th policy reload. */
async function reloaded(count: number): Promise<void> {
  await eventually(async () => {
    const n = gateway.stdout().split('"event":"policy-reloaded"').length - 1;
    assert.doesNotMatch(gateway.stdout(), /policy-reload-failed/);
    return n >= count ? true : undefined;
  }, 10_000);
}

/** Appends the page's `policy.yaml` block number `i` to the file, the API's address put in. */
function addPolicy(i: number): void {
  const block = blocks('file', 'policy.yaml')[i]!;
  appendFileSync(
    join(cwd, 'policy.yaml'),
    block.text.replace('http://127.0.0.1:3000', upstream.url),
  );
}

function writeFile(name: string): void {
  writeFileSync(join(cwd, name), blocks('file', name)[0]!.text);
}

const ACME_KEY = /^acme,\d+,\w+,(\S+)$/m.exec(PAGE)?.[1] ?? '';

let upstream: DemoUpstream;
let gateway: GatewayProcess;
let cwd: string;
let env: Record<string, string>;

before(async () => {
  upstream = await startDemoUpstream({});
  cwd = tempDir();
  const token = /SLUICE_ADMIN_TOKEN=(\S+)/.exec(PAGE)?.[1];
  assert.ok(token, 'the page sets SLUICE_ADMIN_TOKEN');
  env = { SLUICE_ADMIN_TOKEN: token };
});

after(async () => {
  await gateway?.stop();
  await upstream?.close();
});

test('the page walks the steps in order: point, import, shadow, report, enforce, partners, run', () => {
  const steps = [...PAGE.matchAll(/^## (\d)\. (.*)$/gm)].map((m) => `${m[1]} ${m[2]}`);
  assert.deepEqual(
    steps.map((s) => s.split(' ')[0]),
    ['1', '2', '3', '4', '5', '6', '7'],
  );
  for (const [i, word] of [
    'Point',
    'Import',
    'Shadow',
    'report',
    'Enforce',
    'partners',
    'for real',
  ].entries()) {
    assert.match(steps[i]!, new RegExp(word), steps.join('\n'));
  }
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  assert.match(readme.slice(readme.indexOf('## Read more')), /\]\(docs\/adopting\.md\)/);
  // Every command on the page is one this test runs.
  const shellBlocks = PAGE.match(/```sh\n/g)?.length ?? 0;
  const marked = BLOCKS.filter((b) => b.kind === 'run').length;
  assert.equal(marked + 1, shellBlocks, 'every sh block but the addresses is a run: block');
});

test('1. point sluice at the API: check, serve, and the API sees the partner-facing Host', async () => {
  assert.match(blocks('file', 'policy.yaml')[0]!.text, /upstream: http:\/\/127\.0\.0\.1:3000/);
  addPolicy(0);
  const [block] = blocks('run', 'serve');
  const [check, serve] = block!.text.trim().split('\n');
  assert.equal(check, 'npx sluice check policy.yaml');
  const checked = await new Promise<number>((resolve) => {
    spawn(process.execPath, [BIN, 'check', 'policy.yaml'], { cwd, stdio: 'ignore' }).on(
      'exit',
      (code) => resolve(code ?? -1),
    );
  });
  assert.equal(checked, 0, 'sluice check accepts the step-1 policy');
  const args = /^npx sluice serve (.*)$/.exec(serve!)?.[1]?.split(' ');
  assert.ok(args, serve);
  // The page's fixed admin port, made a free one; --listen 127.0.0.1:0 is the helper's.
  gateway = await startGateway(
    args.map((a) => a.replace('127.0.0.1:9090', '127.0.0.1:0')),
    { cwd, env },
  );
  assert.ok(gateway.adminUrl, gateway.output());
  env.SLUICE = gateway.url;
  env.SLUICE_ADMIN = gateway.adminUrl;
  env.SLUICE_PID = String(gateway.child.pid);

  const seen = JSON.parse(await runOk('whoami'));
  const host = new URL(gateway.url).host;
  assert.equal(seen.headers.host, host, 'preserveHost: the Host the client used');
  assert.equal(seen.headers['x-forwarded-host'], host);
  assert.equal(seen.headers['x-forwarded-proto'], 'http');
  assert.equal(seen.forwardedFor, '127.0.0.1');
  assert.equal(seen.account, null, 'no key: only the IP is known');
});

test('2. import the keys: CSV, again (nothing changes), hashed JSON lines, the admin API; the partner key works', async () => {
  writeFile('partners.csv');
  const imported = await runOk('import');
  assert.match(imported, /acme/, imported);
  const again = await runOk('import-again');
  const promised = /prints `(Nothing imported: [^`]+)`/.exec(PAGE)?.[1];
  assert.ok(promised);
  assert.equal(again.trim(), promised);

  const hashed = await runOk('sha256');
  writeFile('partners.jsonl');
  const sha = /"sha256":"([0-9a-f]{64})"/.exec(blocks('file', 'partners.jsonl')[0]!.text)?.[1];
  assert.equal(hashed.split(' ')[0], sha, 'the page computes the hash the JSON line holds');
  await runOk('import-jsonl');

  const admin = JSON.parse(await runOk('import-admin'));
  assert.equal(admin.changed, false, JSON.stringify(admin));
  assert.deepEqual(admin.imported, []);

  addPolicy(1);
  gateway.child.kill('SIGHUP');
  await reloaded(1);
  const seen = JSON.parse(await runOk('partner'));
  assert.equal(seen.account, 'acme');
  assert.match(seen.keyId, /^[0-9A-Z]{10}$/);
  assert.equal(seen.headers['x-api-key'], ACME_KEY, 'an imported key reaches the API as sent');
  // The hashed key works as the partner sends it.
  const globexKey = /printf %s '([^']+)'/.exec(blocks('run', 'sha256')[0]!.text)?.[1];
  const globex = await call(`${gateway.url}/api/whoami`, { headers: { 'x-api-key': globexKey! } });
  assert.equal(globex.json().account, 'globex');
  // Only the listed source is read: a Bearer token passes to the API as the API's own.
  const bearer = await call(`${gateway.url}/api/whoami`, {
    headers: { authorization: `Bearer ${ACME_KEY}` },
  });
  assert.equal(bearer.json().account, null);
});

test('3. shadow mode: the burst passes whole, Sluice-Shadow says what would have happened', async () => {
  addPolicy(2);
  gateway.child.kill('SIGHUP');
  await reloaded(2);
  const lines = (await runOk('burst')).trim().split('\n');
  assert.equal(lines.length, 50);
  assert.ok(
    lines.every((l) => l.startsWith('200 ')),
    `nothing refused:\n${lines.join('\n')}`,
  );
  assert.ok(
    lines.some((l) => /^200 delay=\d+; rule=account-rate; reference=RL-/.test(l)),
    lines.join('\n'),
  );
  assert.ok(
    lines.some((l) => /^200 refuse; rule=account-rate; reference=RL-/.test(l)),
    lines.join('\n'),
  );
});

test('4. the shadow report names the would-be delays and refusals of the account, on the CLI and the admin API', async () => {
  // The burst's last would-be refusals may still be on their way into the report when the
  // first read sees any: the CLI and the admin API must agree once the counts are still.
  const [row, acme] = await eventually(async () => {
    const out = await runOk('report');
    const m = /^acme +(\d+) +(\d+) /m.exec(out);
    if (!m || Number(m[2]) === 0) return undefined;
    const report = JSON.parse(await runOk('report-admin'));
    const a = report.accounts.find((x: { account: string }) => x.account === 'acme');
    return a && a.refused === Number(m[2]) && a.slowed === Number(m[1]) ? [m, a] : undefined;
  }, 10_000);
  assert.ok(Number(row[1]) > 0, 'would-be delays');
  assert.ok(acme.refused > 0, 'would-be refusals on the admin API');
});

test('5. enforce: the file switched and reloaded by SIGHUP; the same burst is slowed or refused', async () => {
  await runOk('enforce');
  assert.match(readFileSync(join(cwd, 'policy.yaml'), 'utf8'), /^mode: enforce$/m);
  await reloaded(3);
  // At once rather than in a row (in a row, each would wait its delay): 20, within ip.concurrency.
  const answers = await Promise.all(
    Array.from({ length: 20 }, () =>
      call(`${gateway.url}/api/companies/cmp-0001`, { headers: { 'x-api-key': ACME_KEY } }),
    ),
  );
  for (const a of answers) {
    assert.equal(a.headers['sluice-shadow'], undefined);
    assert.ok(
      a.status === 429 || Number(a.headers['sluice-delay-ms']) > 0,
      `slowed or refused: ${a.status} ${JSON.stringify(a.headers)}`,
    );
    assert.ok(a.headers['x-ratelimit-limit'], 'legacyRateLimitHeaders from step 1');
  }
  const refused = answers.find((a) => a.status === 429);
  assert.ok(refused, 'past the longest delay: 429');
  assert.match(refused.json<{ reference: string }>().reference, /^RL-/);
});

test('6. the partner reads its own usage; without a key, the 401 says where the key goes', async () => {
  const usage = JSON.parse(await runOk('usage'));
  assert.equal(usage.account, 'acme');
  assert.equal(usage.mode, 'enforce');
  assert.ok(usage.incidents.length > 0, 'its incidents, with references');
  assert.match(usage.incidents[0].reference, /^RL-/);
  const anonymous = await call(`${gateway.url}/.well-known/sluice/usage`);
  assert.equal(anonymous.status, 401);
  assert.match(anonymous.json<{ detail: string }>().detail, /X-API-Key: <key>/);
  assert.doesNotMatch(anonymous.json<{ detail: string }>().detail, /Bearer/);
  const published = (await call(`${gateway.url}/.well-known/sluice`)).json<{
    mode: string;
    credentials: unknown;
  }>();
  assert.equal(published.mode, 'enforce');
  assert.deepEqual(published.credentials, [{ header: 'X-API-Key' }]);
});

test('the account resized as step 4 shows; every block of the page was used', async () => {
  await runOk('set-account');
  await eventually(async () => {
    const usage = await call(`${gateway.url}/.well-known/sluice/usage`, {
      headers: { 'x-api-key': ACME_KEY },
    });
    return usage.json().size === 30 ? true : undefined;
  }, 10_000);
  assert.deepEqual(
    BLOCKS.filter((b) => !used.has(b)).map((b) => `${b.kind}: ${b.name}`),
    [],
  );
});
