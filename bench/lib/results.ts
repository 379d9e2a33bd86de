/**
 * The benchmark's results as data: each round's wrk figures per target, reduced to
 * medians, with the ratios to nginx and to the Fastify peer and the server time a
 * gateway adds per request. What `bench/results/latest.json` holds.
 *
 * @example
 *   const s = summarise(target, check, runs); // { median: { rps, p99Ms, … }, … }
 *   addRatios(summaries);                    // fills vsNginx, vsFastify, serverUsPerReq
 */

import type { EngineComparison } from '../engine-memory.ts';
import type { RefusalKindRun } from '../refusal-kinds.ts';
import type { Isolation, RejectionCost } from '../scenarios.ts';
import type { SharedTableResults } from '../shared-table.ts';
import type { ThreadsResults } from '../threads-scenario.ts';
import type { Noise } from './cpu-noise.ts';
import type { LimitVerdict } from './limit-check.ts';
import type { Machine } from './machine.ts';
import type { RefusalKind } from './target-types.ts';
import type { WrkResult } from './wrk.ts';

export type TargetStatus = 'measured' | 'not available' | 'does not limit' | 'failed';

export interface RoundRun extends WrkResult {
  readonly round: number;
  /** CPU that other processes (and the hypervisor) took during the run. */
  readonly noise?: Noise;
  /** Measured runs it took to get one under the noise bound (or the least noisy). */
  readonly tries: number;
  /** CPU time (user + system) of the gateway's processes per request answered, in µs. */
  readonly gatewayCpuUs?: number;
  /** The same for the upstream: it does the same work in every row, so it shows drift. */
  readonly upstreamCpuUs?: number;
}

export interface Medians {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly non2xx: number;
  readonly socketErrors: number;
  /** Cores taken by other processes and steal time during the measured runs. */
  readonly noiseCores: number;
  readonly gatewayCpuUs?: number;
  readonly upstreamCpuUs?: number;
}

export interface TargetSummary {
  readonly name: string;
  readonly label: string;
  /** False for the references with no limiter (direct, the bare data path). */
  readonly limits: boolean;
  status: TargetStatus;
  /** Why it is not measured, or what went wrong. */
  note?: string;
  check?: LimitVerdict;
  runs: RoundRun[];
  median?: Medians;
  /** Lowest and highest requests/s over the rounds. */
  rpsRange?: [number, number];
  /** Throughput relative to nginx limit_req / to the Fastify peer. */
  vsNginx?: number;
  vsFastify?: number;
  /** Throughput relative to the minimal node:http + undici proxy (Node's own ceiling). */
  vsNodeMinimal?: number;
  /** Server time the gateway adds per request: 1/rps − 1/rps(direct), in µs. */
  serverUsPerReq?: number;
}

export interface ScenarioResults {
  rejectionCost: Record<string, RejectionCost | { error: string }>;
  isolation: Record<string, Isolation | { error: string }>;
  /** The unknown-key flood (made-up keys, 401s), for targets that refuse them; absent in older results. */
  unknownKeyCost?: Record<string, RejectionCost | { error: string }>;
  /**
   * Per target, per refusal kind: the flood's refusals/s and the calm partner's p99 alone
   * and with it (bench/refusal-kinds.ts); absent in older results.
   */
  refusalKinds?: Record<string, Partial<Record<RefusalKind, RefusalKindRun | { error: string }>>>;
  /** Why a target's scenarios were skipped. */
  skipped: Record<string, string>;
}

export interface Results {
  readonly date: string;
  readonly command: string;
  readonly settings: {
    readonly rounds: number;
    readonly durationSec: number;
    readonly connections: number;
    readonly keys: number;
    readonly pinned: boolean;
    readonly maxNoise: number;
    readonly tries: number;
  };
  readonly machine: Machine;
  readonly targets: TargetSummary[];
  readonly scenarios: ScenarioResults;
  /** Decision engine vs rate-limiter-flexible's memory limiter, per key count. */
  readonly engine?: EngineComparison[] | { error: string };
  /** Issue 12: --threads 1 and 2 against nginx worker_processes 1 and 2, on both cores. */
  readonly threads?: ThreadsResults | { error: string };
  /** Issue 12: decisions per thread with 1, 2 and 4 threads on the shared limit table. */
  readonly sharedTable?: SharedTableResults | { error: string };
}

/** Median of a list (mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Median of the values present; undefined when none is (older results, direct). */
function optionalMedian(values: readonly (number | undefined)[]): number | undefined {
  const present = values.filter((v): v is number => v !== undefined);
  return present.length ? median(present) : undefined;
}

/** Fills `median` and `rpsRange` from the runs (each metric's own median). */
export function reduceRuns(t: TargetSummary): void {
  if (t.runs.length === 0) return;
  const col = (f: (r: RoundRun) => number) => median(t.runs.map(f));
  t.median = {
    rps: col((r) => r.rps),
    p50Ms: col((r) => r.p50Ms),
    p99Ms: col((r) => r.p99Ms),
    non2xx: col((r) => r.non2xx),
    socketErrors: col((r) => r.socketErrors),
    noiseCores: col((r) => (r.noise ? r.noise.foreignCores + r.noise.stealCores : 0)),
    gatewayCpuUs: optionalMedian(t.runs.map((r) => r.gatewayCpuUs)),
    upstreamCpuUs: optionalMedian(t.runs.map((r) => r.upstreamCpuUs)),
  };
  const rps = t.runs.map((r) => r.rps);
  t.rpsRange = [Math.min(...rps), Math.max(...rps)];
}

/**
 * Ratios to nginx and the Fastify peer, and server µs per request against direct, each
 * the median over the rounds of that round's figure: the targets run side by side within
 * a round, and the machine drifts between rounds, so a ratio within a round is steadier
 * than the ratio of two medians.
 */
export function addRatios(targets: TargetSummary[]): void {
  const byRound = (name: string) =>
    new Map(targets.find((t) => t.name === name)?.runs.map((r) => [r.round, r.rps]) ?? []);
  const nginx = byRound('nginx');
  const fastify = byRound('fastify');
  const direct = byRound('direct');
  const nodeMinimal = byRound('node-minimal');
  const perRound = (
    t: TargetSummary,
    peer: Map<number, number>,
    f: (a: number, b: number) => number,
  ) => {
    const values = t.runs
      .filter((r) => r.rps > 0 && (peer.get(r.round) ?? 0) > 0)
      .map((r) => f(r.rps, peer.get(r.round)!));
    return values.length ? median(values) : undefined;
  };
  for (const t of targets) {
    if (t.median === undefined || t.median.rps <= 0) continue;
    t.vsNginx = perRound(t, nginx, (a, b) => a / b);
    t.vsFastify = perRound(t, fastify, (a, b) => a / b);
    t.vsNodeMinimal = perRound(t, nodeMinimal, (a, b) => a / b);
    if (t.name !== 'direct')
      t.serverUsPerReq = perRound(t, direct, (a, b) => (1 / a - 1 / b) * 1e6);
  }
}

/** The throughput targets for sluice (issue 11): ≥0.45× nginx and ≥2× Fastify. */
export function sluiceVerdict(targets: readonly TargetSummary[]): string {
  const s = targets.find((t) => t.name === 'sluice');
  if (s?.vsNginx === undefined || s.vsFastify === undefined) {
    return 'sluice targets (≥0.45× nginx, ≥2× Fastify): pending — sluice not measured yet';
  }
  const ok = (v: number, want: number) =>
    `${v.toFixed(2)}× (want ≥${want}×: ${v >= want ? 'met' : 'NOT met'})`;
  return `sluice targets: vs nginx ${ok(s.vsNginx, 0.45)}, vs Fastify ${ok(s.vsFastify, 2)}`;
}
