/**
 * `npm run bench -- [options]`: what the run measures and for how long.
 *
 * @example
 *   parseOptions(['--quick']) // { rounds: 3, durationSec: 5, … }
 */
import { parseArgs } from 'node:util';

export interface BenchOptions {
  readonly rounds: number;
  readonly durationSec: number;
  /** Seconds of unmeasured load before each measured run (JIT, connection pools). */
  readonly warmupSec: number;
  readonly connections: number;
  readonly keys: number;
  /** Target names to run; empty = all. */
  readonly targets: readonly string[];
  readonly scenarios: boolean;
  /** Run the decision-engine comparison (engine vs rate-limiter-flexible, 10k and 1M keys). */
  readonly engine: boolean;
  /** Run the threads scenario (both cores, unpinned) and the shared-table rows (issue 12). */
  readonly threads: boolean;
  /** Write bench/results/ and BENCHMARKS.md. */
  readonly write: boolean;
  readonly pin: boolean;
  /** A measured run during which other processes took more cores than this is redone. */
  readonly maxNoise: number;
  /** Measured runs per target and round at most (the least noisy is kept). */
  readonly tries: number;
  /** Only re-render BENCHMARKS.md and the chart from bench/results/latest.json. */
  readonly render: boolean;
  readonly help: boolean;
}

export const USAGE = `usage: npm run bench -- [options]   (node bench/run.ts [options])

  --rounds N         rounds over all targets, interleaved (default 5; --quick: 3)
  --duration S       seconds of load per target per round (default 10; --quick: 5)
  --warmup S         seconds of unmeasured load before each run (default 10; --quick: 8)
  --quick            3 rounds × 5 s (8 s warm-up), scenarios of 5 s
  --connections N    wrk connections (default 50)
  --keys N           API keys the load rotates over (default 1000)
  --targets a,b      only these targets (direct, nginx, haproxy, fastify, node-minimal,
                     bun-minimal, data-path, sluice, sluice-bun, sluice-redis,
                     fastify-rlf-redis)
  --no-scenarios     skip the scenarios (isolation per refusal kind, isolation)
  --no-engine        skip the decision-engine comparison (10k and 1M keys)
  --no-threads       skip the threads rows (sluice --threads 1/2 and nginx worker_processes
                     1/2 on both cores, unpinned; the shared limit table with 1/2/4 threads)
  --render           measure nothing: re-render the report from bench/results/latest.json
  --no-write         print only; do not write bench/results/ or BENCHMARKS.md
  --no-pin           do not pin with taskset (results are then not comparable)
  --max-noise C      redo a run if other processes took more than C cores (default 0.25)
  --tries N          measured runs at most per target and round (default 3)
`;

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`--${name} must be a whole number ≥ 1, not "${value}"`);
  return n;
}

/** Reads the command line; throws with a plain message on a bad value. */
export function parseOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      quick: { type: 'boolean', default: false },
      connections: { type: 'string' },
      keys: { type: 'string' },
      targets: { type: 'string' },
      'no-scenarios': { type: 'boolean', default: false },
      'no-engine': { type: 'boolean', default: false },
      'no-threads': { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
      'no-pin': { type: 'boolean', default: false },
      'max-noise': { type: 'string' },
      tries: { type: 'string' },
      render: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  const quick = values.quick;
  const warmup = values.warmup === undefined ? (quick ? 8 : 10) : Number(values.warmup);
  if (!(warmup >= 0)) throw new Error(`--warmup must be a number ≥ 0, not "${values.warmup}"`);
  const maxNoise = values['max-noise'] === undefined ? 0.25 : Number(values['max-noise']);
  if (!(maxNoise >= 0)) {
    throw new Error(`--max-noise must be a number of cores ≥ 0, not "${values['max-noise']}"`);
  }
  return {
    rounds: positiveInt('rounds', values.rounds, quick ? 3 : 5),
    durationSec: positiveInt('duration', values.duration, quick ? 5 : 10),
    warmupSec: warmup,
    connections: positiveInt('connections', values.connections, 50),
    keys: positiveInt('keys', values.keys, 1000),
    targets: values.targets
      ? values.targets
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : [],
    scenarios: !values['no-scenarios'],
    engine: !values['no-engine'],
    threads: !values['no-threads'],
    write: !values['no-write'],
    pin: !values['no-pin'],
    maxNoise,
    tries: positiveInt('tries', values.tries, 3),
    render: values.render,
    help: values.help,
  };
}
