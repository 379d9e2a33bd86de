#!/usr/bin/env node
// The `sluice` command. sluice runs on Node 24 (pinned in package.json as the `node`
// dev dependency): its TypeScript sources run as they are, by Node's type stripping.
// When this launcher is started by an older Node (a machine's own), it re-runs itself
// on the project's pinned Node instead of failing on the first type annotation.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const main = join(root, 'src', 'cli', 'main.ts');
const major = Number(process.versions.node.split('.')[0]);

if (major >= 24) {
  // main.ts runs itself only when it is the entry module (import.meta.main), which it
  // is not when imported from here: call it.
  const cli = await import(main);
  const { processIo } = await import(join(root, 'src', 'cli', 'io.ts'));
  process.exitCode = await cli.main(process.argv.slice(2), processIo());
} else {
  const pinned = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(pinned)) {
    process.stderr.write(
      `sluice needs Node.js 24 or newer (this is ${process.version}); run \`npm install\` in ${root} to install the pinned one.\n`,
    );
    process.exit(1);
  }
  const child = spawn(pinned, [main, ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal ? 128 : 1);
  });
}
