/**
 * The root README's "Integrate with sluice-client" snippet, run as written (`node
 * sync.mjs` inside this checkout, where `sluice-client` resolves to the workspace)
 * against the real gateway and demo upstream, twice: a full sync, then changes only.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type DemoGateway, ROOT, startDemoGateway } from '../helpers/gateway-process.ts';
import { runToEnd } from '../helpers/run-to-end.ts';

function readmeSnippet(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Integrate with sluice-client'));
  const block = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, 'the README has a js block under "Integrate with sluice-client"');
  assert.ok(block.split('\n').filter((l) => l.trim() !== '').length <= 12, 'about ten lines');
  return block;
}

async function runNode(file: string, cwd: string, env: Record<string, string>) {
  const r = await runToEnd(process.execPath, [file], {
    cwd,
    env: { ...process.env, ...env },
    timeoutMs: 30_000,
    what: `node ${file}`,
  });
  return { code: r.code, out: r.stdout, err: r.stderr };
}

let demo: DemoGateway;
let dir: string;
before(async () => {
  demo = await startDemoGateway({ accounts: ['acme'] });
  // Inside the checkout (under the git-ignored .sluice/), so the import resolves as in the README.
  mkdirSync(join(ROOT, '.sluice'), { recursive: true });
  dir = mkdtempSync(join(ROOT, '.sluice', 'readme-client-'));
});
after(async () => {
  await demo?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

test("the README's integration snippet syncs the demo API through sluice, then fetches only changes", async () => {
  const file = join(dir, 'sync.mjs');
  writeFileSync(file, readmeSnippet());
  const env = { SLUICE: demo.gateway.url, KEY: demo.keys.acme };
  const first = await runNode(file, dir, env);
  assert.equal(first.code, 0, first.err);
  assert.match(first.out, /^50 records\n/);
  assert.match(first.out, /synced 50 records; the next run fetches changes since \d{4}-\d\d-\d\dT/);
  const second = await runNode(file, dir, env);
  assert.equal(second.code, 0, second.err);
  assert.match(second.out, /synced 0 records/);
  assert.ok(
    JSON.parse(readFileSync(join(dir, 'sluice-checkpoint.json'), 'utf8'))['sync:companies'],
  );
});
