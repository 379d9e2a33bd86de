/**
 * The targets of issue 11, each checked against one run's figures: met, missed (with the
 * figures that decide it), or pending when the run lacks a figure it needs. Ratios are
 * within the run, as BENCHMARKS.md reports them.
 *
 * @example
 *   for (const g of checkGoals(results)) console.log(`${g.target}: ${g.verdict} (${g.figures})`);
 */
import { calmRatio, type RefusalKindRun } from '../refusal-kinds.ts';
import type { Results, TargetSummary } from './results.ts';
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
