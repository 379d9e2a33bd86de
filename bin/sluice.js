#!/usr/bin/env node
// The `sluice` command. sluice runs on Node 24 (pinned in package.json as the `node`
// dev dependency): its TypeScript sources run as they are, by Node's type stripping.
// When this launcher is started by an older Node (a machine's own), it re-runs itself
// on the project's pinned Node instead of failing on the first type annotation.
//
// A supervisor signals the process it started, which is then this launcher: every
// terminating signal is passed on to sluice, and the launcher ends as sluice did (its
// exit code, or death by the same signal). Should the launcher itself be killed
// outright, sluice sees its parent gone (SLUICE_LAUNCHER_PID, src/cli/parent-watch.ts)
// and stops gracefully. A service should still start the pinned Node directly:
// docs/operations.md, "Running under a supervisor".
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const main = join(root, 'src', 'cli', 'main.ts');
const major = Number(process.versions.node.split('.')[0]);

/** The signals that end a process by default and that a person or supervisor sends. */
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'];

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
  const child = spawn(pinned, [main, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, SLUICE_LAUNCHER_PID: String(process.pid) },
  });
  const forward = (signal) => child.kill(signal);
  for (const signal of FORWARDED) process.on(signal, forward);
  child.on('error', (error) => {
    process.stderr.write(`sluice: cannot start the pinned Node ${pinned}: ${error.message}\n`);
    process.exitCode = 1;
  });
  child.on('exit', (code, signal) => {
    for (const s of FORWARDED) process.off(s, forward);
    if (signal === null) {
      process.exitCode = code ?? 1;
      return;
    }
    // Die of the same signal, so whoever started us sees what happened to sluice; for a
    // signal Node ignores (SIGPIPE), the shell's convention: 128 + its number.
    process.exitCode = 128 + (constants.signals[signal] ?? 0);
    process.kill(process.pid, signal);
  });
}
