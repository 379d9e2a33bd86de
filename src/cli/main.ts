/**
 * `sluice <command>`: the command-line entry. Each command lives in its own file and
 * exports `run(args, io)`, returning the exit status. Errors reach the person as one
 * plain sentence with a stable code, never as a stack trace.
 */
import './quiet-warnings.ts';
import { quote, shortenRuns } from '../core/echo.ts';
import { isSluiceError } from '../core/errors.ts';
import type { CliIo } from './io.ts';
import { processIo } from './io.ts';

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run: CliRun }> }> = {
  serve: { summary: 'run the gateway', load: () => import('./serve.ts') },
  check: {
    summary: 'validate a policy file and print its limits',
    load: () => import('./check.ts'),
  },
  keys: {
    summary: 'create, import, list, revoke and reinstate API keys',
    load: () => import('./keys.ts'),
  },
  incident: {
    summary: 'look up an incident by its reference code (--list: the recent ones)',
    load: () => import('./incident.ts'),
  },
  incidents: {
    summary: 'list the most recently active incidents (sluice incident --list)',
    load: async () => {
      const { run } = await import('./incident.ts');
      return { run: (args, io) => run(['--list', ...args], io) };
    },
  },
  ips: { summary: 'list, block and unblock client IP addresses', load: () => import('./ips.ts') },
  report: {
    summary: 'what shadow mode saw: per account, what would have been slowed, refused, suspended',
    load: () => import('./report.ts'),
  },
  records: {
    summary: "copy a node's records (its sluice.db) into the policy's store, e.g. Redis",
    load: () => import('./records.ts'),
  },
  audit: {
    summary: 'show the audit trail: who changed which key, account or IP block',
    load: () => import('./audit.ts'),
  },
};

export type CliRun = (args: string[], io: CliIo) => Promise<number>;

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(11)}${c.summary}`);
  return (
    `usage: sluice <command> [options]\n\ncommands:\n${lines.join('\n')}\n\n` +
    "Run `sluice <command> --help` for a command's options.\n" +
    'Exit status: 0 done, 1 failed, 2 wrong command line, 3 not found (no such key, incident or IP block).\n'
  );
}

/** Runs one command line; returns the exit status. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    io.stderr.write(`sluice: unknown command ${quote(name)}\n\n${usage()}`);
    return 2;
  }
  try {
    const { run } = await command.load();
    return await run(rest, io);
  } catch (error) {
    return reportError(error, io);
  }
}

/**
 * Prints an error as plain words; stack traces only with SLUICE_DEBUG=1. Long runs in
 * a message (an argument echoed by Node's parser or the file system) are shortened.
 */
export function reportError(error: unknown, io: CliIo): number {
  if (isSluiceError(error)) {
    io.stderr.write(`sluice: ${shortenRuns(error.message)} [${error.code}]\n`);
    for (const p of error.problems) {
      const where =
        [p.path, p.line === undefined ? '' : `line ${p.line}`].filter(Boolean).join(', ') ||
        '(top level)';
      io.stderr.write(`  - ${shortenRuns(where)}: ${shortenRuns(p.message)}\n`);
    }
    return error.exitCode;
  }
  const message = shortenRuns(error instanceof Error ? error.message : String(error));
  io.stderr.write(`sluice: unexpected failure: ${message}\n`);
  if (io.env.SLUICE_DEBUG === '1' && error instanceof Error) io.stderr.write(`${error.stack}\n`);
  return 1;
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2), processIo());
}
