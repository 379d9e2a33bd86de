/**
 * Starts the real `sluice` command as a child process on a loopback port, for
 * integration tests. Everything started is stopped by its pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDemoUpstream } from '../../src/demo/demo-upstream.ts';
import { runToEnd } from './run-to-end.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
/** The installed command's launcher (it re-runs itself on the pinned Node when needed). */
const BIN = join(ROOT, 'bin', 'sluice.js');
/** The Bun binary of the `bun` devDependency. */
export const BUN = join(ROOT, 'node_modules', '.bin', 'bun');

/** A JavaScript runtime sluice can be run on. */
export type Runtime = 'node' | 'bun';

/**
 * The runtime `sluice serve` and the CLI run on in tests: Node (the one running the
 * tests), or Bun when SLUICE_TEST_RUNTIME=bun, to run the same integration tests
 * against sluice on Bun.
 *
 * @example
 * // SLUICE_TEST_RUNTIME=bun node --test test/integration/gateway-proxy.test.ts
 */
export const TEST_RUNTIME: Runtime = process.env.SLUICE_TEST_RUNTIME === 'bun' ? 'bun' : 'node';

/** The binary that runs `runtime`. */
export const runtimeBinary = (runtime: Runtime) => (runtime === 'bun' ? BUN : process.execPath);

/** Every directory tempDir made in this test process, removed when it exits. */
const made = new Set<string>();
process.once('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory under the system's temp dir, removed when the test process exits. */
export function tempDir(prefix = 'sluice-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.add(dir);
  return dir;
}

/** Writes a policy file into `dir` and returns its path. */
export function writePolicy(dir: string, yaml: string, name = 'policy.yaml'): string {
  const path = join(dir, name);
  writeFileSync(path, yaml);
  return path;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `sluice …` to completion (bounded by `timeoutMs`). */
export function sluice(
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number; bin?: boolean } = {},
): Promise<CliResult> {
  // `bin` goes through bin/sluice.js, the installed command's launcher.
  // The launcher is a Node script: it stays on Node.
  const binary = options.bin ? process.execPath : runtimeBinary(TEST_RUNTIME);
  return runToEnd(binary, [options.bin ? BIN : MAIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    timeoutMs: options.timeoutMs ?? 20_000,
    what: `sluice ${args.join(' ')}`,
  });
}

export interface GatewayProcess {
  url: string;
  adminUrl: string | undefined;
  /** Everything the process printed so far. */
  output(): string;
  /** What it printed on stdout alone (JSON log lines). */
  stdout(): string;
  child: ChildProcess;
  /** Stops the process (SIGTERM, then SIGKILL after 10 s); resolves to its exit code. */
  stop(): Promise<number>;
}

/**
 * Starts `sluice serve …` and waits until it says where it listens (the banner on
 * stderr; the JSON `listening` line on stdout).
 */
export async function startGateway(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; runtime?: Runtime } = {},
): Promise<GatewayProcess> {
  const binary = runtimeBinary(options.runtime ?? TEST_RUNTIME);
  const child = spawn(binary, [MAIN, 'serve', '--listen', '127.0.0.1:0', ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let stdout = '';
  child.stdout?.on('data', (d) => {
    out += d;
    stdout += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gateway did not start:\n${out}`));
    }, 15_000);
    const check = () => {
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`gateway exited before listening:\n${out}`));
    });
  });
  const admin = /admin API and \/metrics: (http:\/\/[^\s]+)/.exec(out);
  return {
    url,
    adminUrl: admin?.[1],
    output: () => out,
    stdout: () => stdout,
    child,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Creates an API key with the real CLI; returns the key (shown once) and its id. */
export async function createKey(
  dataDir: string,
  account: string,
  extra: string[] = [],
): Promise<{ key: string; id: string }> {
  const result = await sluice([
    'keys',
    'create',
    '--account',
    account,
    '--data',
    dataDir,
    '--json',
    ...extra,
  ]);
  if (result.code !== 0) throw new Error(`keys create failed: ${result.stderr}`);
  const parsed = JSON.parse(result.stdout) as { id: string; key: string };
  return { key: parsed.key, id: parsed.id };
}

/** A real gateway in front of the real demo upstream, with keys made by the real CLI. */
export interface DemoGateway {
  gateway: GatewayProcess;
  upstream: Awaited<ReturnType<typeof startDemoUpstream>>;
  dataDir: string;
  /** The key of each account asked for, by account id. */
  keys: Record<string, string>;
  /** Stops the gateway, then the upstream (by process and server, never left running). */
  stop(): Promise<void>;
}

/**
 * Starts the demo upstream and `sluice serve` in front of it with `policy` (YAML; the
 * built-in policy when omitted), after creating one key per account in `accounts`.
 *
 * @example
 * let demo: DemoGateway;
 * before(async () => { demo = await startDemoGateway({ policy: 'ip:\n  concurrency: 2\n', accounts: ['acme'] }); });
 * after(() => demo?.stop());
 */
export async function startDemoGateway(
  options: {
    policy?: string;
    accounts?: string[];
    args?: string[];
    env?: Record<string, string>;
    runtime?: Runtime;
  } = {},
): Promise<DemoGateway> {
  const upstream = await startDemoUpstream({});
  const dataDir = tempDir();
  const keys: Record<string, string> = {};
  let gateway: GatewayProcess;
  try {
    for (const account of options.accounts ?? [])
      keys[account] = (await createKey(dataDir, account)).key;
    const config =
      options.policy === undefined ? [] : ['--config', writePolicy(tempDir(), options.policy)];
    gateway = await startGateway(
      ['--upstream', upstream.url, '--data', dataDir, ...config, ...(options.args ?? [])],
      { env: options.env, runtime: options.runtime },
    );
  } catch (error) {
    // The caller gets no handle to stop it with: a listening upstream left behind keeps
    // the test file's process alive after its tests, and the whole suite waits for it.
    await upstream.close();
    throw error;
  }
  return {
    gateway,
    upstream,
    dataDir,
    keys,
    async stop() {
      await gateway.stop();
      await upstream.close();
    },
  };
}
