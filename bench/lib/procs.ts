/**
 * Child processes of the benchmark: started pinned to a core, remembered by pid, and
 * stopped by pid on the way out (normal end, error, SIGINT). Each child gets its own
 * process group so that stopping it also stops what it started (nginx's worker).
 *
 * @example
 *   const child = spawnPinned(0, process.execPath, ['bench/upstream.ts']);
 *   const url = await child.waitForLine(/listening (\S+)/, 5000);
 *   await child.stop();
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';

const live = new Set<Child>();
let pinning = true;

/** Turns `taskset` pinning off (machines with one core, or without taskset). */
export function setPinning(on: boolean): void {
  pinning = on;
}

/** Whether children are pinned now (a scenario that unpins restores this after). */
export function pinningOn(): boolean {
  return pinning;
}

export interface Child {
  readonly pid: number;
  readonly name: string;
  /** Everything the child printed so far (stdout and stderr, capped). */
  output(): string;
  /** Resolves with the first match of `pattern` in the output; rejects on exit or timeout. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or signal name) once the child has ended. */
  exited(): Promise<number | string>;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves when it has ended. */
  stop(graceMs?: number): Promise<void>;
}

const OUTPUT_CAP = 256 * 1024;

/**
 * Starts `cmd args` on CPU `cpu` (through `taskset -c`, which execs the command, so the
 * pid is the command's own).
 */
export function spawnPinned(
  cpu: number,
  cmd: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; name?: string } = {},
): Child {
  const [file, argv] = pinning ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
  const proc: ChildProcess = spawn(file, argv, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  if (proc.pid === undefined) throw new Error(`could not start ${cmd}`);
  const pid = proc.pid;
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    if (out.length < OUTPUT_CAP) out += chunk.toString('utf8');
    for (const l of listeners) l();
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  let exitValue: number | string | undefined;
  const exitPromise = new Promise<number | string>((resolve) => {
    proc.on('exit', (code, signal) => {
      exitValue = code ?? signal ?? 'unknown';
      live.delete(child);
      for (const l of listeners) l();
      resolve(exitValue);
    });
    proc.on('error', (error) => {
      out += `\n${error.message}`;
      exitValue = 'spawn-error';
      live.delete(child);
      for (const l of listeners) l();
      resolve(exitValue);
    });
  });

  const child: Child = {
    pid,
    name: opts.name ?? cmd,
    output: () => out,
    exited: () => exitPromise,
    waitForLine(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(pattern);
          if (m) return done(() => resolve(m));
          if (exitValue !== undefined) {
            done(() => reject(new Error(`${child.name} ended (${exitValue}): ${tail(out)}`)));
          }
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`${child.name} not ready in ${timeoutMs} ms`))),
          timeoutMs,
        );
        const done = (f: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          f();
        };
        listeners.add(check);
        check();
      });
    },
    async stop(graceMs = 3000) {
      if (exitValue !== undefined) return;
      signalGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
      await exitPromise;
      clearTimeout(timer);
      // The leader is gone; make sure nothing it started outlives it.
      signalGroup(pid, 'SIGKILL');
    },
  };
  live.add(child);
  return child;
}

/** Runs a command to completion with a time bound; returns its status and output. */
export function runBounded(
  cmd: string,
  args: readonly string[],
  opts: { cwd?: string; timeoutMs: number },
): { status: number | null; stdout: string; stderr: string; failed: boolean } {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, timeout: opts.timeoutMs, encoding: 'utf8' });
  return {
    status: r.status,
    stdout: r.stdout ?? '',
    stderr: `${r.stderr ?? ''}${r.error ? r.error.message : ''}`,
    // Not found, not executable, or killed by the time bound.
    failed: r.error !== undefined,
  };
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

function tail(s: string): string {
  return s.trim().split('\n').slice(-5).join(' | ');
}

/** Process groups of the children still running (each child leads its own group). */
export function liveGroups(): ReadonlySet<number> {
  return new Set([...live].map((c) => c.pid));
}

/** Stops every child still running (by pid). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop(1000)));
}

let installed = false;

/**
 * Makes sure no child outlives the benchmark: SIGKILL by pid on exit, and a clean stop
 * on SIGINT/SIGTERM.
 */
export function installExitHandlers(onSignal: () => Promise<void> = async () => {}): void {
  if (installed) return;
  installed = true;
  process.on('exit', () => {
    for (const c of live) signalGroup(c.pid, 'SIGKILL');
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping children…\n`);
      const hardExit = setTimeout(() => process.exit(130), 5000);
      hardExit.unref();
      void onSignal()
        .catch(() => {})
        .then(stopAll)
        .finally(() => process.exit(130));
    });
  }
}
