/**
 * The targets of issues 11, 12 (threads) and 13 (Redis), each checked against one run's
 * figures: met, missed (with the figures that decide it), or pending when the run lacks a
 * figure it needs. Ratios are within the run, as BENCHMARKS.md reports them.
 *
 * @example
 *   for (const g of checkGoals(results)) console.log(`${g.target}: ${g.verdict} (${g.figures})`);
 *   for (const g of checkRedisGoals(results)) console.log(`${g.target}: ${g.verdict}`);
 */
import { calmRatio, type RefusalKindRun } from '../refusal-kinds.ts';
import { perThreadRatio } from '../shared-table.ts';
import { median, type Results, type TargetSummary } from './results.ts';
import { REFUSAL_KINDS, type RefusalKind } from './target-types.ts';

export interface GoalCheck {
  /** What is measured, e.g. `sluice req/s ÷ nginx limit_req`. */
  readonly target: string;
  /** The bound, e.g. `≥ 0.45×`. */
  readonly want: string;
  /** The figures that decide it, for people. */
  readonly figures: string;
  readonly verdict: 'met' | 'missed' | 'pending';
}

const x = (n: number) => `${n.toFixed(2)}×`;

/** `value` against a lower (`min`) or upper (`max`) bound; pending when undefined. */
function bound(
  target: string,
  kind: 'min' | 'max',
  limit: number,
  value: number | undefined,
  figures: string,
): GoalCheck {
  const want = `${kind === 'min' ? '≥' : '≤'} ${limit}×`;
  if (value === undefined || !Number.isFinite(value)) {
    return { target, want, figures: figures || 'not measured in this run', verdict: 'pending' };
  }
  const ok = kind === 'min' ? value >= limit : value <= limit;
  return {
    target,
    want,
    figures: `${x(value)}${figures ? ` (${figures})` : ''}`,
    verdict: ok ? 'met' : 'missed',
  };
}

/** The run of `kind` for `target`, when it measured. */
export function kindRun(
  results: Results,
  target: string,
  kind: RefusalKind,
): RefusalKindRun | undefined {
  const r = results.scenarios.refusalKinds?.[target]?.[kind];
  return r === undefined || 'error' in r ? undefined : (r as RefusalKindRun);
}

/** Every target of issue 11, in the issue's order. */
export function checkGoals(results: Results): GoalCheck[] {
  const t = (name: string): TargetSummary | undefined =>
    results.targets.find((s) => s.name === name && s.median !== undefined);
  const sluice = t('sluice');
  const nginx = t('nginx');
  const out: GoalCheck[] = [
    bound('sluice req/s ÷ nginx limit_req', 'min', 0.45, sluice?.vsNginx, ''),
    bound('sluice req/s ÷ Fastify peer', 'min', 2, sluice?.vsFastify, ''),
    bound('sluice req/s ÷ minimal node:http + undici proxy', 'min', 0.9, sluice?.vsNodeMinimal, ''),
  ];
  const p99 = (s: TargetSummary | undefined) => s?.median?.p99Ms;
  const p50 = (s: TargetSummary | undefined) => s?.median?.p50Ms;
  const sp99 = p99(sluice);
  const np99 = p99(nginx);
  const sp50 = p50(sluice);
  out.push(
    bound(
      "sluice p99 ÷ nginx's p99",
      'max',
      3,
      sp99 !== undefined && np99 ? sp99 / np99 : undefined,
      sp99 !== undefined && np99 ? `${sp99.toFixed(2)} ms vs ${np99.toFixed(2)} ms` : '',
    ),
    bound(
      'sluice p99 ÷ its own p50',
      'max',
      2,
      sp99 !== undefined && sp50 ? sp99 / sp50 : undefined,
      sp99 !== undefined && sp50 ? `${sp99.toFixed(2)} ms vs ${sp50.toFixed(2)} ms` : '',
    ),
  );
  const rate = (name: string) => kindRun(results, name, 'rate')?.flood.rejectedPerSec;
  const s429 = rate('sluice');
  for (const [peer, label, limit] of [
    ['fastify', 'Fastify peer', 1.5],
    ['nginx', 'nginx', 0.4],
  ] as const) {
    const p429 = rate(peer);
    out.push(
      bound(
        `sluice 429/s ÷ ${label}'s`,
        'min',
        limit,
        s429 !== undefined && p429 ? s429 / p429 : undefined,
        s429 !== undefined && p429
          ? `${Math.round(s429).toLocaleString('en-US')} vs ${Math.round(p429).toLocaleString('en-US')}`
          : '',
      ),
    );
  }
  for (const kind of REFUSAL_KINDS) {
    const sr = kindRun(results, 'sluice', kind);
    const nr = kindRun(results, 'nginx', kind);
    const s = sr && calmRatio(sr);
    const n = nr && calmRatio(nr);
    const target = `calm partner's p99 flood ÷ alone, ${kind} flood: sluice ÷ nginx`;
    out.push(
      bound(
        target,
        'max',
        1,
        s !== undefined && n !== undefined ? s / n : undefined,
        s !== undefined && n !== undefined ? `sluice ${x(s)}, nginx ${x(n)}` : '',
      ),
    );
  }
  return out;
}

/**
 * Median over the rounds of `a`'s req/s ÷ `b`'s in the same round (the two run side by
 * side within a round, as the other ratios); undefined when they share no round.
 */
export function roundRatio(results: Results, a: string, b: string): number | undefined {
  const runs = (name: string) =>
    new Map(results.targets.find((t) => t.name === name)?.runs.map((r) => [r.round, r.rps]));
  const other = runs(b);
  const ratios = [...runs(a)].flatMap(([round, rps]) => {
    const o = other.get(round);
    return o !== undefined && o > 0 && rps > 0 ? [rps / o] : [];
  });
  return ratios.length ? median(ratios) : undefined;
}

const rps = (results: Results, name: string) => {
  const m = results.targets.find((t) => t.name === name)?.median?.rps;
  return m === undefined ? '' : Math.round(m).toLocaleString('en-US');
};

/** Issue 13's throughput targets: sluice on Redis against sluice on memory and Fastify + RLF on Redis. */
export function checkRedisGoals(results: Results): GoalCheck[] {
  const pair = (a: string, b: string) => {
    const ra = rps(results, a);
    const rb = rps(results, b);
    return ra && rb ? `${ra} vs ${rb} req/s` : '';
  };
  return [
    bound(
      'sluice on Redis req/s ÷ sluice on memory',
      'min',
      0.8,
      roundRatio(results, 'sluice-redis', 'sluice'),
      pair('sluice-redis', 'sluice'),
    ),
    bound(
      'sluice on Redis req/s ÷ Fastify + rate-limiter-flexible on Redis',
      'min',
      2,
      roundRatio(results, 'sluice-redis', 'fastify-rlf-redis'),
      pair('sluice-redis', 'fastify-rlf-redis'),
    ),
  ];
}

/** Issue 12's measured targets: the shared table's cost of contention, and CPU per request with threads. */
export function checkThreadsGoals(results: Results): GoalCheck[] {
  const table =
    results.sharedTable && !('error' in results.sharedTable) ? results.sharedTable : undefined;
  const threads = results.threads && !('error' in results.threads) ? results.threads : undefined;
  const cpuFigure = table ? perThreadRatio(table, 2, 'cpu') : undefined;
  return [
    bound(
      'shared table, 2 threads contending: decisions/s per thread ÷ 1 thread',
      'min',
      0.7,
      table ? perThreadRatio(table, 2, 'wall') : undefined,
      cpuFigure === undefined ? '' : `per CPU second ${x(cpuFigure)}`,
    ),
    bound(
      'sluice CPU per request, --threads 2 ÷ --threads 1',
      'max',
      1.15,
      threads?.sluiceCpuRatio,
      threads?.nginxCpuRatio === undefined
        ? ''
        : `nginx worker_processes 2 ÷ 1: ${x(threads.nginxCpuRatio)}`,
    ),
  ];
}
