/**
 * Runs a program to its end and collects what it printed, bounded in time: what the
 * walk-through tests (README, adoption page, client snippets) and the CLI helpers share.
 * A program still running at the bound is killed and the promise rejects with its output.
 *
 * @example
 * const { code, stdout } = await runToEnd('bash', ['-c', 'echo hi'], { timeoutMs: 5_000 });
 */
import { spawn } from 'node:child_process';

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

export function runToEnd(
  command: string,
  args: readonly string[],
  options: {
    /** The whole environment of the child (merge `process.env` yourself when it should see it). */
    env: NodeJS.ProcessEnv;
    cwd?: string;
    timeoutMs: number;
    /** Names the run in the error when it does not finish. */
    what?: string;
  },
): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      const what = options.what ?? `${command} ${args.join(' ')}`;
      reject(new Error(`${what} did not finish in ${options.timeoutMs} ms\n${stdout}\n${stderr}`));
    }, options.timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}
