/**
 * The isolation scenario after the overhead rounds, run against every gateway that
 * limits (and direct, as the control): one account floods at 20× its rate while a
 * second sends at half its rate; the second's p99 and 429 count with and without the
 * flood. The refusal floods (429s, unknown keys and the other kinds, each with a calm
 * partner) are in bench/refusal-kinds.ts, which shares the helpers here.
 *
 * Each phase starts the gateway afresh, so no state (or safeguard action) carries over,
 * warms it up with other keys than the measured ones (the Node gateways need seconds of
 * load to reach steady state), waits for the machine to be quiet, and records the CPU
 * other processes took while it measured.
 *
 * @example
 *   const iso = await isolation(target, upstreamUrl, scenarioOptions);
 */
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureNoise, type Noise, waitForQuiet } from './lib/cpu-noise.ts';
import { liveGroups, spawnPinned } from './lib/procs.ts';
import type { Limit, RunningTarget, Target } from './lib/target-types.ts';
import { runWrk } from './lib/wrk.ts';
import type { PacedResult } from './paced-load.ts';

const PACED = join(dirname(fileURLToPath(import.meta.url)), 'paced-load.ts');

/** 100 requests/s per account; sluice may slow up to 1 s and queue a little. */
export const ISOLATION_LIMIT: Limit = {
  perMinute: 6000,
  burst: 10,
  maxDelayMs: 1000,
  maxSlowed: 20,
  concurrency: 10,
  queue: 20,
};
const ACCOUNT_RATE = ISOLATION_LIMIT.perMinute / 60;

export interface ScenarioOptions {
  readonly durationSec: number;
  readonly warmupSec: number;
  readonly connections: number;
  /** Keys to start the gateway with (≥ 3): the first two are measured, the rest warm up. */
  readonly keys: number;
  readonly maxNoise: number;
  /** Where the keys files go. */
  readonly workDir: string;
}

export interface RejectionCost {
  readonly rejectedPerSec: number;
  readonly servedPerSec: number;
  readonly p99Ms: number;
  readonly socketErrors: number;
  readonly noise?: Noise;
}

/** wrk over every key but the first two, unmeasured; then waits for a quiet machine. */
export async function warmUp(target: Target, running: RunningTarget, opts: ScenarioOptions) {
  if (opts.warmupSec > 0 && running.keys.length > 2) {
    const keysFile = join(opts.workDir, `warmup-${target.name}.keys`);
    await writeFile(keysFile, `${running.keys.slice(2).join('\n')}\n`);
    await runWrk({
      url: running.url,
      keysFile,
      header: target.keyHeader,
      connections: opts.connections,
      durationSec: opts.warmupSec,
    });
  }
  await waitForQuiet(opts.maxNoise, 30_000, liveGroups);
}

/** Made-up keys the unknown-key flood rotates over: more than the gateway remembers (10,000). */
export const UNKNOWN_KEYS = 50_000;

/** `sk_<10-character id>_<32 characters>`: the shape of a real key, never created. */
export function madeUpKeys(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `sk_FAKEKEY000_${String(i).padStart(32, '0')}`);
}

/**
 * Each account of the isolation scenario sends from its own loopback address, as two
 * partners would from their own machines: a gateway that blocks the flooding client's
 * IP must not hit the calm account through it.
 */
export const CALM_ADDRESS = '127.0.0.2';
export const FLOOD_ADDRESS = '127.0.0.3';

/** Runs bench/paced-load.ts on the load core; resolves with its JSON report. */
export async function paced(
  url: string,
  header: string,
  key: string,
  rate: number,
  durationSec: number,
  localAddress: string,
) {
  const child = spawnPinned(
    1,
    process.execPath,
    [
      PACED,
      '--url',
      url,
      '--header',
      header,
      '--key',
      key,
      '--rate',
      String(rate),
      '--duration',
      String(durationSec),
      '--local-address',
      localAddress,
    ],
    { name: 'paced-load' },
  );
  const bound = setTimeout(() => void child.stop(), (durationSec + 30) * 1000);
  const status = await child.exited();
  clearTimeout(bound);
  const last = child.output().trim().split('\n').at(-1) ?? '';
  if (status !== 0 || !last.startsWith('{')) {
    throw new Error(`paced-load failed (${status}): ${child.output().trim().slice(-300)}`);
  }
  return JSON.parse(last) as PacedResult;
}

export interface IsolationPhase {
  /** The well-behaved account (half its rate). */
  readonly calm: PacedResult;
  /** The flooding account (20× its rate); absent in the phase without flood. */
  readonly flood?: PacedResult;
  readonly noise?: Noise;
}

export interface Isolation {
  readonly accountRate: number;
  readonly alone: IsolationPhase;
  readonly withFlood: IsolationPhase;
}

/** The calm account alone, then the same next to a flooding account. */
export async function isolation(
  target: Target,
  upstreamUrl: string,
  opts: ScenarioOptions,
): Promise<Isolation> {
  const phase = async (withFlood: boolean): Promise<IsolationPhase> => {
    const running = await target.start(upstreamUrl, {
      limit: ISOLATION_LIMIT,
      keys: Math.max(3, opts.keys),
    });
    try {
      await warmUp(target, running, opts);
      const [floodKey, calmKey] = running.keys;
      const h = target.keyHeader;
      const [calm, flood, noise] = await Promise.all([
        paced(running.url, h, calmKey, ACCOUNT_RATE / 2, opts.durationSec, CALM_ADDRESS),
        withFlood
          ? paced(running.url, h, floodKey, ACCOUNT_RATE * 20, opts.durationSec, FLOOD_ADDRESS)
          : undefined,
        measureNoise(opts.durationSec * 1000, liveGroups),
      ]);
      return { calm, flood, noise };
    } finally {
      await running.stop();
    }
  };
  return { accountRate: ACCOUNT_RATE, alone: await phase(false), withFlood: await phase(true) };
}
