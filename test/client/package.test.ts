/**
 * The package as published: built JavaScript that matches its TypeScript source, no
 * runtime dependency, nothing of the gateway, and runnable on Node 20 (which cannot
 * strip types: it gets the built files).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { test } from 'node:test';
import { ROOT, tempDir } from '../helpers/gateway-process.ts';

const PKG = join(ROOT, 'packages', 'client');

test('the committed dist/ is what the TypeScript source builds to (npm run build:client)', () => {
  const out = tempDir('sluice-client-build-');
  execFileSync(
    process.execPath,
    [
      join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      join(PKG, 'tsconfig.json'),
      '--outDir',
      out,
    ],
    { cwd: ROOT, stdio: 'pipe' },
  );
  const built = readdirSync(out).sort();
  assert.deepEqual(readdirSync(join(PKG, 'dist')).sort(), built, 'the same files');
  for (const file of built) {
    assert.equal(
      readFileSync(join(PKG, 'dist', file), 'utf8'),
      readFileSync(join(out, file), 'utf8'),
      `dist/${file} is stale: run npm run build:client`,
    );
  }
});

test('the package has no runtime dependency and imports nothing of the gateway', () => {
  const pkg = JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8'));
  assert.equal(pkg.name, 'sluice-client');
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.dependencies, undefined);
  assert.equal(pkg.peerDependencies, undefined);
  assert.ok(existsSync(join(PKG, pkg.exports['.'].default)));
  assert.ok(existsSync(join(PKG, pkg.exports['.'].types)));
  assert.match(
    readFileSync(join(PKG, pkg.bin['sluice-sync']), 'utf8'),
    /^#!\/usr\/bin\/env node\n/,
  );
  for (const file of readdirSync(join(PKG, 'src'))) {
    // Without comments: their examples import the package by name.
    const text = readFileSync(join(PKG, 'src', file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
    for (const [, spec] of text.matchAll(/(?:from|import\()\s*'([^']+)'/g)) {
      assert.ok(
        /^\.\/[\w-]+\.ts$/.test(spec) || /^node:(fs\/promises|util)$/.test(spec),
        `src/${file} imports ${spec}: only its own files and node:fs (checkpoint file, CLI)`,
      );
    }
  }
});

/** The machine's own `node` when it is not the pinned one (Node 20 on this project's machines). */
function otherNode(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'node');
    if (!existsSync(candidate) || candidate === process.execPath) continue;
    if (candidate.startsWith(join(ROOT, 'node_modules'))) continue;
    return candidate;
  }
  return undefined;
}

test("the built package loads and works on the machine's own Node (20)", (t) => {
  const node = otherNode();
  if (node === undefined) {
    t.skip('no other node on PATH');
    return;
  }
  const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
  t.diagnostic(`ran on ${version}`);
  const script = `
    import { createClient, memoryCheckpoint, matchRoute } from ${JSON.stringify(join(PKG, 'dist', 'index.js'))};
    const c = createClient({ baseUrl: 'http://127.0.0.1:1', key: 'sk_a_b', checkpoint: memoryCheckpoint() });
    console.log(typeof c.request, typeof c.sync, typeof matchRoute);
  `;
  const r = spawnSync(node, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'function function function');
  const help = spawnSync(node, [join(PKG, 'dist', 'cli.js'), '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^usage: sluice-sync COLLECTION --url URL/);
});
