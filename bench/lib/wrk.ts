/**
 * Runs wrk (pinned to the load core) with the key-rotating Lua script and reads its
 * report: requests/s, latency p50/p99 (`--latency`), non-2xx answers, socket errors.
 *
 * @example
 *   const r = await runWrk({ url, keysFile, header: 'x-api-key', connections: 50, durationSec: 10 });
 *   r.rps; r.p99Ms; r.non2xx;
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnPinned } from './procs.ts';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', 'wrk', 'keys.lua');

export interface WrkResult {
  readonly requests: number;
  readonly durationSec: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Answers with a status of 400 or more (wrk: "Non-2xx or 3xx responses"). */
  readonly non2xx: number;
  /** connect + read + write + timeout errors. */
  readonly socketErrors: number;
}

export interface WrkOptions {
  readonly url: string;
  readonly keysFile: string;
  readonly header: string;
  readonly connections: number;
  readonly durationSec: number;
  /** Path requested when the script is not used; the script sets its own paths. */
  readonly path?: string;
  readonly cpu?: number;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `1.23ms` → 1.23; `456.00us` → 0.456. */
export function parseWrkTime(s: string): number {
  const m = s.match(/^([\d.]+)(us|ms|s|m|h)$/);
  if (!m) throw new Error(`not a wrk time: ${s}`);
  return Number(m[1]) * UNIT_MS[m[2]];
}

/** Reads wrk's text report (run with `--latency`). */
export function parseWrk(text: string): WrkResult {
  const need = (re: RegExp, what: string) => {
    const m = text.match(re);
    if (!m) throw new Error(`wrk output has no ${what}: ${text.trim().slice(-400)}`);
    return m;
  };
  const total = need(/(\d+) requests in ([\d.]+(?:us|ms|s|m|h))/, 'request count');
  const rps = need(/Requests\/sec:\s+([\d.]+)/, 'Requests/sec');
  const p50 = need(/^\s+50%\s+([\d.]+(?:us|ms|s|m|h))/m, '50% latency (run with --latency)');
  const p99 = need(/^\s+99%\s+([\d.]+(?:us|ms|s|m|h))/m, '99% latency (run with --latency)');
  const non2xx = text.match(/Non-2xx or 3xx responses:\s+(\d+)/);
  const sock = text.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  return {
    requests: Number(total[1]),
    durationSec: parseWrkTime(total[2]) / 1000,
    rps: Number(rps[1]),
    p50Ms: parseWrkTime(p50[1]),
    p99Ms: parseWrkTime(p99[1]),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: sock ? sock.slice(1, 5).reduce((a, n) => a + Number(n), 0) : 0,
  };
}

/** One wrk run: one thread, fixed connections, bounded duration (killed if it overstays). */
export async function runWrk(opts: WrkOptions): Promise<WrkResult> {
  const args = [
    '-t1',
    `-c${opts.connections}`,
    `-d${opts.durationSec}s`,
    '--latency',
    '--timeout',
    '5s',
    '-s',
    SCRIPT,
    `${opts.url}${opts.path ?? '/api/items/1'}`,
    '--',
    opts.keysFile,
    opts.header,
  ];
  const child = spawnPinned(opts.cpu ?? 1, 'wrk', args, { name: 'wrk' });
  const bound = setTimeout(() => void child.stop(), (opts.durationSec + 15) * 1000);
  const status = await child.exited();
  clearTimeout(bound);
  if (status !== 0) throw new Error(`wrk failed (${status}): ${child.output().trim()}`);
  return parseWrk(child.output());
}
