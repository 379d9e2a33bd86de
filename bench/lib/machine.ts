/**
 * What the figures were measured on (cores, CPU, versions), and whether the tools the
 * benchmark needs are installed, with the command that installs them.
 *
 * @example
 *   const missing = missingTools(); // [] or ['wrk']
 *   const m = describeMachine();    // { cores: 2, cpu: 'AMD EPYC', node: 'v24.9.0', … }
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBounded } from './procs.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface Machine {
  readonly cores: number;
  readonly cpu: string;
  readonly kernel: string;
  readonly node: string;
  readonly nginx: string;
  /** HAProxy's and Bun's versions (absent in results older than December 2026). */
  readonly haproxy?: string;
  readonly bun?: string;
  readonly wrk: string;
  /** Versions of the Node peers' libraries, from node_modules. */
  readonly packages: Readonly<Record<string, string>>;
  /** The sluice source measured: commit, and files under src/ changed since it. */
  readonly source: { readonly commit: string; readonly changedFiles: number };
}

function has(cmd: string, args: string[]): boolean {
  return !runBounded(cmd, args, { timeoutMs: 5000 }).failed;
}

/** Tools that are not installed, among `wrk`, `nginx`, `haproxy`, `taskset`. */
export function missingTools(): string[] {
  const missing: string[] = [];
  if (!has('wrk', ['-v'])) missing.push('wrk');
  if (!has('nginx', ['-v'])) missing.push('nginx');
  if (!has('haproxy', ['-v'])) missing.push('haproxy');
  if (!has('taskset', ['-V'])) missing.push('taskset');
  return missing;
}

/** The Debian command that installs `tools`. */
export function installHint(tools: readonly string[]): string {
  const pkgs = tools.map((t) => (t === 'taskset' ? 'util-linux' : t));
  return `apt-get update && apt-get install -y ${pkgs.join(' ')}`;
}

function packageVersion(name: string): string {
  try {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8'));
    return String(pkg.version);
  } catch {
    return 'not installed';
  }
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}

/** The commit of the work tree, and how many files under src/ differ from it (read-only git). */
function describeSource(): Machine['source'] {
  const head = runBounded('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, timeoutMs: 5000 });
  const status = runBounded('git', ['status', '--porcelain', '--', 'src'], {
    cwd: ROOT,
    timeoutMs: 5000,
  });
  return {
    commit: head.status === 0 ? head.stdout.trim() : 'unknown',
    changedFiles: status.status === 0 ? status.stdout.split('\n').filter(Boolean).length : 0,
  };
}

export function describeMachine(): Machine {
  let cpu = 'unknown';
  try {
    const m = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m);
    if (m) cpu = m[1].trim();
  } catch {
    // Not Linux.
  }
  const nginx = runBounded('nginx', ['-v'], { timeoutMs: 5000 });
  const wrk = runBounded('wrk', ['-v'], { timeoutMs: 5000 });
  const haproxy = runBounded('haproxy', ['-v'], { timeoutMs: 5000 });
  const bun = runBounded(join(ROOT, 'node_modules', '.bin', 'bun'), ['--version'], {
    timeoutMs: 10_000,
  });
  return {
    cores: availableParallelism(),
    cpu,
    kernel: release(),
    node: process.version,
    nginx: firstLine(nginx.stderr || nginx.stdout).replace(/^nginx version:\s*/, '') || 'absent',
    haproxy:
      haproxy.status === 0
        ? firstLine(haproxy.stdout)
            .replace(/^HAProxy version\s*/, '')
            .replace(/\s.*$/, '')
        : 'absent',
    bun: bun.status === 0 ? firstLine(bun.stdout) : 'absent',
    wrk: firstLine(wrk.stdout || wrk.stderr).replace(/\s*Copyright.*$/, '') || 'absent',
    packages: Object.fromEntries(
      ['fastify', '@fastify/rate-limit', '@fastify/reply-from', 'undici'].map((n) => [
        n,
        packageVersion(n),
      ]),
    ),
    source: describeSource(),
  };
}
