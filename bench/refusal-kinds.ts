/**
 * Isolation per refusal kind: for each kind a gateway can answer (429 over the rate, 403
 * for a suspended key, 403 for a blocked IP, 401 for an unknown key), the gateway is
 * started for that kind and warmed up, then
 *
 * 1. a calm partner (its own key, its own client IP: `CALM_ADDRESS`) sends half its
 *    rate on a fixed schedule, alone;
 * 2. the same again while wrk floods from 127.0.0.1 (`FLOOD_IP`) as fast as the gateway
 *    answers, with the flooding key (or, for `unknown`, 50,000 made-up keys).
 *
 * It gives the refusals per second of each kind (the flood's wrk figures) and, for the
 * gateways in `CALM_TARGETS`, the calm partner's p99 with the flood ÷ alone. That the
 * flood was refused as the kind says is checked right after it (`floodStatus`, `probe`).
 *
 * @example
 *   const run = await refusalKind(target, 'blocked-ip', upstreamUrl, scenarioOptions);
 *   run.flood.rejectedPerSec; run.calmWithFlood?.p99Ms;
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { measureNoise, type Noise } from './lib/cpu-noise.ts';
import { liveGroups } from './lib/procs.ts';
import type { Limit, RefusalKind, Target } from './lib/target-types.ts';
import { runWrk } from './lib/wrk.ts';
import type { PacedResult } from './paced-load.ts';
import {
  CALM_ADDRESS,
  madeUpKeys,
  paced,
  type RejectionCost,
  type ScenarioOptions,
  UNKNOWN_KEYS,
  warmUp,
} from './scenarios.ts';

/**
 * 100 requests/s per key with a burst of 10, refused at once (no slowing, no queue): the
 * calm partner's 50/s pass, the flooding key is far over it.
 */
export const REFUSAL_LIMIT: Limit = {
  perMinute: 6000,
  burst: 10,
  maxDelayMs: 0,
  maxSlowed: 0,
  concurrency: 1000,
  queue: 1000,
};

/** The calm partner's rate: half the limit. */
export const CALM_RATE = REFUSAL_LIMIT.perMinute / 60 / 2;

/** The gateways whose calm partner is measured (the comparison); the rest: refusals/s only. */
export const CALM_TARGETS: ReadonlySet<string> = new Set(['sluice', 'nginx']);

/** The status each kind is answered with. */
export const KIND_STATUS: Readonly<Record<RefusalKind, number>> = {
  rate: 429,
  suspended: 403,
  'blocked-ip': 403,
  unknown: 401,
};

export interface RefusalKindRun {
  readonly kind: RefusalKind;
  /** What the flood got right after it (`probe`): should be `KIND_STATUS[kind]`. */
  readonly floodStatus: number;
  /** The flood's figures: refusals per second, the few answered meanwhile, its p99. */
  readonly flood: RejectionCost;
  readonly calmAlone?: PacedResult;
  readonly calmWithFlood?: PacedResult;
  readonly noiseAlone?: Noise;
}

/**
 * What the flood gets now (from FLOOD_IP): the kind's status if any of `count` requests
 * sent at once got it, else the first other refusal, else 200. A `rate` key is over its
 * rate only while it sends faster than that, so its probe sends more than rate + burst
 * (150) at once; the other kinds refuse every request, and one is enough.
 */
async function probe(url: string, header: string, key: string, kind: RefusalKind) {
  const count = kind === 'rate' ? 150 : 1;
  const statuses = await Promise.all(
    Array.from({ length: count }, async () => {
      const res = await fetch(`${url}/api/items/1`, {
        headers: { [header]: key },
        signal: AbortSignal.timeout(5000),
      });
      await res.arrayBuffer();
      return res.status;
    }),
  );
  const want = KIND_STATUS[kind];
  return statuses.includes(want) ? want : (statuses.find((s) => s !== 200) ?? 200);
}

/** The flood of one kind against `target`, with the calm partner for `CALM_TARGETS`. */
export async function refusalKind(
  target: Target,
  kind: RefusalKind,
  upstreamUrl: string,
  opts: ScenarioOptions,
): Promise<RefusalKindRun> {
  const running = await target.start(upstreamUrl, {
    limit: REFUSAL_LIMIT,
    keys: Math.max(3, opts.keys),
    refusal: { kind },
  });
  try {
    await warmUp(target, running, opts);
    await running.applyRefusal?.();
    const [floodKey, calmKey] = running.keys;
    const h = target.keyHeader;
    const floodKeys = kind === 'unknown' ? madeUpKeys(UNKNOWN_KEYS) : [floodKey];
    const keysFile = join(opts.workDir, `refusal-${kind}-${target.name}.keys`);
    await writeFile(keysFile, `${floodKeys.join('\n')}\n`);
    const calm = CALM_TARGETS.has(target.name);
    const calmRun = () => paced(running.url, h, calmKey, CALM_RATE, opts.durationSec, CALM_ADDRESS);
    let calmAlone: PacedResult | undefined;
    let noiseAlone: Noise | undefined;
    if (calm) {
      [calmAlone, noiseAlone] = await Promise.all([
        calmRun(),
        measureNoise(opts.durationSec * 1000, liveGroups),
      ]);
    }
    const [r, calmWithFlood, noise] = await Promise.all([
      runWrk({
        url: running.url,
        keysFile,
        header: h,
        connections: opts.connections,
        durationSec: opts.durationSec,
      }),
      calm ? calmRun() : undefined,
      measureNoise(opts.durationSec * 1000, liveGroups),
    ]);
    const floodStatus = await probe(running.url, h, floodKeys[0], kind);
    return {
      kind,
      floodStatus,
      flood: {
        rejectedPerSec: r.non2xx / r.durationSec,
        servedPerSec: (r.requests - r.non2xx) / r.durationSec,
        p99Ms: r.p99Ms,
        socketErrors: r.socketErrors,
        noise,
      },
      calmAlone,
      calmWithFlood,
      noiseAlone,
    };
  } finally {
    await running.stop();
  }
}

/** p99 with the flood ÷ p99 alone, when both were measured. */
export function calmRatio(run: RefusalKindRun): number | undefined {
  const a = run.calmAlone?.p99Ms;
  const b = run.calmWithFlood?.p99Ms;
  return a !== undefined && b !== undefined && a > 0 ? b / a : undefined;
}
