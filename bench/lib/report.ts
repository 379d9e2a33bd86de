/**
 * Results for people: the console table, and the Markdown section that goes between
 * the markers in BENCHMARKS.md.
 *
 * @example
 *   console.log(textTable(results.targets));
 *   const md = replaceBetweenMarkers(old, markdownSection(results));
 */
import type { PacedResult } from '../paced-load.ts';
import { CALM_RATE, calmRatio, KIND_STATUS, REFUSAL_LIMIT } from '../refusal-kinds.ts';
import type { Isolation, RejectionCost } from '../scenarios.ts';
import { perThreadRatio } from '../shared-table.ts';
import { threadsMedians } from '../threads-scenario.ts';
import type { Noise } from './cpu-noise.ts';
import {
  checkGoals,
  checkRedisGoals,
  checkThreadsGoals,
  type GoalCheck,
  kindRun,
} from './goals.ts';
import { median, type Results, sluiceVerdict, type TargetSummary } from './results.ts';
import { REFUSAL_KINDS } from './target-types.ts';

export const START_MARKER = '<!-- bench:results:start -->';
export const END_MARKER = '<!-- bench:results:end -->';

const int = (n: number | undefined) =>
  n === undefined ? '–' : Math.round(n).toLocaleString('en-US');
const fix = (n: number | undefined, d = 2) => (n === undefined ? '–' : n.toFixed(d));
const ratio = (n: number | undefined) => (n === undefined ? '–' : `${n.toFixed(2)}×`);
const noiseCell = (n: Noise | undefined) =>
  n === undefined ? '–' : (n.foreignCores + n.stealCores).toFixed(2);

function checkCell(t: TargetSummary): string {
  if (!t.limits) return 'n/a (no limiter)';
  if (t.check === undefined) return t.status === 'not available' ? 'not available' : '–';
  return t.check.ok
    ? `429 after ${t.check.allowedBefore429}, other key ${t.check.otherKeyStatus}`
    : 'FAILED';
}

interface Row {
  cells: string[];
}

function rows(targets: readonly TargetSummary[]): Row[] {
  return targets.map((t) => {
    const m = t.median;
    if (m === undefined) {
      return {
        cells: [t.label, checkCell(t), t.status, '', '', '', '', '', '', '', '', '', '', ''],
      };
    }
    return {
      cells: [
        t.label,
        checkCell(t),
        int(m.rps),
        t.rpsRange ? `${int(t.rpsRange[0])}–${int(t.rpsRange[1])}` : '–',
        fix(m.p50Ms),
        fix(m.p99Ms),
        int(m.non2xx + m.socketErrors),
        t.name === 'direct' ? '0' : fix(t.serverUsPerReq, 1),
        fix(m.gatewayCpuUs, 0),
        fix(m.upstreamCpuUs, 0),
        ratio(t.vsNginx),
        ratio(t.vsFastify),
        ratio(t.vsNodeMinimal),
        fix(m.noiseCores),
      ],
    };
  });
}

const HEADERS = [
  'gateway',
  'limit check',
  'req/s',
  'req/s range',
  'p50 ms',
  'p99 ms',
  'errors',
  'server µs/req',
  'gateway CPU µs/req',
  'upstream CPU µs/req',
  '× nginx',
  '× Fastify',
  '× minimal Node',
  "others' cores",
];

/** A fixed-width table for the console. */
export function textTable(targets: readonly TargetSummary[]): string {
  const all = [HEADERS, ...rows(targets).map((r) => r.cells)];
  const widths = HEADERS.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ');
  const notes = targets.filter((t) => t.note).map((t) => `  ${t.name}: ${t.status} — ${t.note}`);
  return [
    line(HEADERS),
    line(widths.map((w) => '-'.repeat(w))),
    ...all.slice(1).map(line),
    ...notes,
  ].join('\n');
}

function mdTable(headers: readonly string[], body: readonly (readonly string[])[]): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  return [
    `| ${headers.join(' | ')} |`,
    `| ${headers.map(() => '---').join(' | ')} |`,
    ...body.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

function rejectionTable(results: Results): string {
  const body = Object.entries(results.scenarios.rejectionCost).map(([name, r]) => {
    const label = results.targets.find((t) => t.name === name)?.label ?? name;
    if ('error' in r) return [label, `failed: ${r.error}`, '', '', '', ''];
    const c = r as RejectionCost;
    const allowed = results.targets.find((t) => t.name === name)?.median?.rps;
    return [
      label,
      int(c.rejectedPerSec),
      int(c.servedPerSec),
      int(allowed),
      ratio(allowed ? c.rejectedPerSec / allowed : undefined),
      noiseCell(c.noise),
    ];
  });
  return mdTable(
    [
      'gateway',
      '429/s (one flooding key)',
      'served/s meanwhile',
      'proxied req/s (overhead run)',
      '429/s ÷ proxied req/s',
      "others' cores",
    ],
    body,
  );
}

/** The unknown-key flood: 401s per second for each target that refuses made-up keys. */
function unknownKeyTable(results: Results): string {
  const body = Object.entries(results.scenarios.unknownKeyCost ?? {}).map(([name, r]) => {
    const label = results.targets.find((t) => t.name === name)?.label ?? name;
    if ('error' in r) return [label, `failed: ${r.error}`, '', ''];
    const c = r as RejectionCost;
    return [label, int(c.rejectedPerSec), fix(c.p99Ms, 1), noiseCell(c.noise)];
  });
  return mdTable(['gateway', '401/s (made-up keys)', 'p99 ms', "others' cores"], body);
}

/** How each gateway answers each refusal kind (the method; the same words as BENCHMARKS.md). */
const KIND_MAPPING = [
  'How each kind is answered: **sluice** — `rate`: the plan limit (`ignoring429` in dry run, so the flood stays 429s); ' +
    '`suspended`: the flooding key keeps going after its 429s until the `ignoring429` safeguard suspends it (403 `key-suspended`; ' +
    '`afterAuthFailure` in dry run, so its IP is not blocked too); `blocked-ip`: `sluice ips block 127.0.0.1` after the warm-up ' +
    '(403 `ip-blocked`, default safeguards); `unknown`: `unauthenticated: refuse` (401 `key-unknown`). ' +
    '**nginx** — `rate`: `limit_req` (429); `suspended` and `unknown`: a `map` of the valid keys, `return 403` for the suspended one ' +
    'and `return 401` for a key not in it; `blocked-ip`: `deny 127.0.0.1` (403; the blocked address is kept out of `limit_req`, ' +
    'which runs first). **HAProxy** — the stick table (429); a map file of the valid keys (401 / 403); `deny if { src 127.0.0.1 }` (403). ' +
    '**Fastify** — `@fastify/rate-limit` (429); an `onRequest` hook before it with a Set of the valid keys (401 / 403) and the blocked IP (403).',
].join('');

/** One row per gateway and refusal kind: refusals/s, and the calm partner's p99 alone and with the flood. */
function refusalKindTable(results: Results): string {
  const body: string[][] = [];
  for (const [name, kinds] of Object.entries(results.scenarios.refusalKinds ?? {})) {
    const label = results.targets.find((t) => t.name === name)?.label ?? name;
    for (const kind of REFUSAL_KINDS) {
      const r = kinds[kind];
      if (r === undefined) continue;
      if ('error' in r) {
        body.push([label, kind, `failed: ${r.error}`, '', '', '', '', '', '', '', '']);
        continue;
      }
      const run = kindRun(results, name, kind)!;
      const calm = run.calmAlone !== undefined && run.calmWithFlood !== undefined;
      body.push([
        label,
        kind,
        `${run.floodStatus}${run.floodStatus === KIND_STATUS[kind] ? '' : ` (want ${KIND_STATUS[kind]})`}`,
        int(run.flood.rejectedPerSec),
        int(run.flood.servedPerSec),
        fix(run.flood.p99Ms),
        calm ? fix(run.calmAlone?.p99Ms) : '–',
        calm ? fix(run.calmWithFlood?.p99Ms) : '–',
        ratio(calmRatio(run)),
        calm ? `${otherThan200(run.calmAlone!)} / ${otherThan200(run.calmWithFlood!)}` : '–',
        `${noiseCell(run.noiseAlone)} / ${noiseCell(run.flood.noise)}`,
      ]);
    }
  }
  return mdTable(
    [
      'gateway',
      'kind',
      'flood answered',
      'refusals/s',
      '2xx/s meanwhile',
      'flood p99 ms',
      'calm p99 ms, alone',
      'calm p99 ms, with flood',
      'p99 with ÷ alone',
      'calm not 200, alone / with flood',
      "others' cores, alone / with flood",
    ],
    body,
  );
}

/** The calm partner's answers other than 200 (and no answers), or 0. */
function otherThan200(r: PacedResult): string {
  const parts = Object.entries(r.status)
    .filter(([code]) => code !== '200')
    .map(([code, n]) => `${int(n)}×${code}`);
  if (r.errors) parts.push(`${int(r.errors)} no answer`);
  return parts.length ? parts.join(', ') : '0';
}

/** Targets (issue 11 by default), met or missed, with the figures. */
function goalsTable(results: Results, goals: readonly GoalCheck[] = checkGoals(results)): string {
  return mdTable(
    ['target', 'want', 'this run', 'verdict'],
    goals.map((g) => [
      g.target,
      g.want,
      g.figures,
      g.verdict === 'met' ? 'met' : g.verdict === 'missed' ? '**missed**' : 'pending',
    ]),
  );
}

/** The targets of issues 11, 12 and 13 for the console, one line each. */
export function goalLines(results: Results): string {
  return [
    ['issue 11', checkGoals(results)],
    ['issue 12 (threads)', checkThreadsGoals(results)],
    ['issue 13 (Redis)', checkRedisGoals(results)],
  ]
    .flatMap(([issue, goals]) => [
      ` ${issue}:`,
      ...(goals as GoalCheck[]).map(
        (g) => `  ${g.verdict.padEnd(7)} ${g.target} ${g.want}: ${g.figures}`,
      ),
    ])
    .join('\n');
}

/** The threads scenario (issue 12): both cores shared by wrk, the upstream and the gateway. */
function threadsSection(results: Results): string {
  const t = results.threads;
  if (t === undefined) return 'No threads run (`--no-threads`).';
  if ('error' in t) return `The threads run failed: ${t.error}`;
  const body = t.rows.map((row) => {
    const m = threadsMedians(row);
    if (m === undefined) return [row.label, row.error ?? 'not measured', '', '', '', '', ''];
    return [
      row.label,
      int(m.rps),
      fix(m.p50Ms),
      fix(m.p99Ms),
      int(m.errors),
      fix(m.gatewayCpuUs, 1),
      fix(m.noiseCores),
    ];
  });
  return [
    `Nothing pinned: wrk (\`-t1 -c${t.connections}\`), a fresh upstream and the gateway share both cores, ` +
      `${t.durationSec} s per row and round, rows taking turns. "gateway CPU µs/req" = user + system CPU of the ` +
      "gateway's process (every thread; nginx's master and workers) per request answered. On 2 cores a " +
      'throughput curve means little with the load generator on the same cores: the figure that decides is ' +
      'CPU per request.',
    '',
    mdTable(
      ['gateway', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'gateway CPU µs/req', "others' cores"],
      body,
    ),
    '',
    `CPU per request, --threads 2 ÷ --threads 1: ${ratio(t.sluiceCpuRatio)} (nginx worker_processes 2 ÷ 1: ` +
      `${ratio(t.nginxCpuRatio)}); sluice --threads 2 ÷ nginx worker_processes 2 in req/s: ${ratio(t.sluiceVsNginx)} ` +
      '(medians of per-round ratios).',
  ].join('\n');
}

/** The shared limit table's rows (issue 12): decisions per thread with 1, 2 and 4 threads. */
function sharedTableSection(results: Results): string {
  const r = results.sharedTable;
  if (r === undefined) return 'No shared-table run (`--no-threads`).';
  if ('error' in r) return `The shared-table run failed: ${r.error}`;
  const body = r.rows.map((row) => [
    `${row.kind === 'shared' ? 'shared table' : 'memory store (one per thread)'} × ${row.threads}`,
    int(median(row.wall)),
    int(median(row.cpu)),
    row.kind === 'shared' ? ratio(perThreadRatio(r, row.threads, 'wall')) : '–',
    row.kind === 'shared' ? ratio(perThreadRatio(r, row.threads, 'cpu')) : '–',
  ]);
  return [
    `\`bench/shared-table.ts\`: one decision = one per-IP window + one per-account GCRA step, all allowed, ${int(r.keys)} keys ` +
      `in a scattered order, every thread on the same keys; ${r.rounds} rounds of ${r.ms} ms, rows taking turns, fresh ` +
      "worker threads per row, not pinned. Per CPU second divides by the threads' own CPU time (the cost of sharing " +
      'without the time spent waiting for a core).',
    '',
    mdTable(
      [
        'store × threads',
        'decisions/s per thread',
        'per CPU second',
        '÷ shared × 1',
        '÷ shared × 1, per CPU second',
      ],
      body,
    ),
  ].join('\n');
}

/** sluice against the issue's scenario targets, in one line each. */
function scenarioVerdicts(results: Results): string[] {
  const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const out: string[] = [];
  const rc = results.scenarios.rejectionCost.sluice;
  const allowed = results.targets.find((t) => t.name === 'sluice')?.median?.rps;
  if (rc !== undefined && !('error' in rc) && allowed) {
    const x = (rc as RejectionCost).rejectedPerSec / allowed;
    out.push(
      `Rejection target (≥3× the proxied throughput): sluice ${ratio(x)}, ${verdict(x >= 3)}.`,
    );
  }
  const iso = results.scenarios.isolation.sluice;
  if (iso !== undefined && !('error' in iso)) {
    const { alone, withFlood } = iso as Isolation;
    const growth = alone.calm.p99Ms > 0 ? withFlood.calm.p99Ms / alone.calm.p99Ms : Infinity;
    const refused = (withFlood.calm.status['429'] ?? 0) + (alone.calm.status['429'] ?? 0);
    out.push(
      `Isolation target (calm p99 ≤1.5× alone, zero 429s): sluice ${ratio(growth)}, ${verdict(growth <= 1.5)}; ` +
        `${refused} 429s, ${verdict(refused === 0)}.`,
    );
  }
  return out;
}

/** Answers that were neither 200 nor 429, by status (and errors: no answer). */
function otherFailures(r: PacedResult): string {
  const parts = Object.entries(r.status)
    .filter(([code]) => code !== '200' && code !== '429')
    .map(([code, n]) => `${int(n)}×${code}`);
  if (r.errors) parts.push(`${int(r.errors)} no answer`);
  return parts.length ? parts.join(', ') : '0';
}

function isolationTable(results: Results): string {
  const body = Object.entries(results.scenarios.isolation).map(([name, r]) => {
    const label = results.targets.find((t) => t.name === name)?.label ?? name;
    if ('error' in r) return [label, `failed: ${r.error}`, '', '', '', '', '', ''];
    const iso = r as Isolation;
    const { alone, withFlood } = iso;
    const flood = withFlood.flood;
    const floodCell = flood
      ? `${int(flood.status['200'] ?? 0)} ok, ${int(flood.status['429'] ?? 0)}×429, other: ${otherFailures(flood)}`
      : '–';
    return [
      label,
      fix(alone.calm.p99Ms),
      fix(withFlood.calm.p99Ms),
      ratio(alone.calm.p99Ms > 0 ? withFlood.calm.p99Ms / alone.calm.p99Ms : undefined),
      `${alone.calm.status['429'] ?? 0} / ${withFlood.calm.status['429'] ?? 0}`,
      `${otherFailures(alone.calm)} / ${otherFailures(withFlood.calm)}`,
      floodCell,
      `${noiseCell(alone.noise)} / ${noiseCell(withFlood.noise)}`,
    ];
  });
  return mdTable(
    [
      'gateway',
      'calm p99 ms, alone',
      'calm p99 ms, with flood',
      'p99 with ÷ alone',
      'calm 429s, alone / with flood',
      'calm other failures, alone / with flood',
      'flooding account',
      "others' cores, alone / with flood",
    ],
    body,
  );
}

const IMPL_LABEL: Record<string, string> = {
  sluice: 'sluice engine + memory store (synchronous, as on the gateway)',
  'sluice-awaited': 'sluice, each decision awaited',
  rlf: 'rate-limiter-flexible RateLimiterMemory (awaited)',
};

/** The engine comparison: decisions/s and bytes per key at each key count, and the ratios. */
function engineSection(engine: Results['engine']): string {
  if (engine === undefined) return 'Not run (--no-engine).';
  if ('error' in engine) return `Failed: ${engine.error}`;
  const rows = engine.flatMap((c) =>
    c.rows.map((r) => [
      IMPL_LABEL[r.impl] ?? r.impl,
      int(c.keys),
      int(r.median.reused),
      int(r.median.fresh),
      fix(r.bytesPerKey, 1),
      r.impl === 'sluice' ? `${ratio(c.ratio.reused)} / ${ratio(c.ratio.fresh)}` : '',
      r.impl === 'sluice' ? `${c.memoryRatio.toFixed(1)}× less` : '',
    ]),
  );
  const first = engine[0];
  return [
    'One decision = one per-IP check + one per-account check, all allowed (the common path), ' +
      `on keys already tracked, in a scattered order (\`bench/engine-memory.ts\`, ${first?.repeats ?? 0} repeats ` +
      'taking turns, each implementation in a child process of its own on core 0; medians). "Reused" ' +
      'passes the very strings the keys were made with, as the gateway does for account ids; ' +
      '"fresh" makes equal strings anew for each decision. Bytes per key: V8 heap and ArrayBuffers ' +
      'after a full GC, divided by the keys held. The ratio is the median of the per-repeat ratios.',
    '',
    mdTable(
      [
        'implementation',
        'keys',
        'decisions/s, reused',
        'decisions/s, fresh',
        'bytes/key',
        '× rate-limiter-flexible (reused / fresh)',
        'memory',
      ],
      rows,
    ),
    '',
    ...engine.map(
      (c) =>
        `Engine target at ${int(c.keys)} keys (≥3× rate-limiter-flexible, ≤100 bytes/key): ` +
        `${ratio(c.ratio.reused)} reused / ${ratio(c.ratio.fresh)} fresh, ` +
        `${fix(c.rows.find((r) => r.impl === 'sluice')?.bytesPerKey, 1)} bytes/key.`,
    ),
  ].join('\n');
}

/** The Markdown that goes between the markers in BENCHMARKS.md. */
export function markdownSection(results: Results): string {
  const s = results.settings;
  const m = results.machine;
  const skipped = Object.entries(results.scenarios.skipped).map(([n, why]) => `- ${n}: ${why}`);
  const isoRate = Object.values(results.scenarios.isolation).find((r) => !('error' in r)) as
    | Isolation
    | undefined;
  return [
    START_MARKER,
    `Run of ${results.date}: \`${results.command}\` — ${s.rounds} rounds × ${s.durationSec} s per target, ` +
      `${s.connections} connections, ${s.keys} API keys, ${s.pinned ? 'servers on core 0, wrk on core 1' : 'NOT pinned'}.`,
    '',
    `Machine: ${m.cores} cores, ${m.cpu}, Linux ${m.kernel}; Node ${m.node}; nginx ${m.nginx}; ` +
      `${m.haproxy ? `HAProxy ${m.haproxy}; ` : ''}${m.bun ? `Bun ${m.bun}; ` : ''}${m.wrk}; ` +
      Object.entries(m.packages)
        .map(([n, v]) => `${n} ${v}`)
        .join(', ') +
      '.',
    '',
    `sluice source: commit ${m.source.commit}${m.source.changedFiles ? ` with ${m.source.changedFiles} files under src/ changed since (work in progress)` : ''}.`,
    '',
    '### Overhead (limits never reached), medians over the rounds',
    '',
    `"errors" = non-2xx answers + socket errors; "others' cores" = CPU taken by other processes ` +
      `and steal time during the measured runs (a run above ${s.maxNoise} cores was redone, up to ${s.tries} tries, ` +
      'and the least noisy kept). "server µs/req" = 1/req/s − 1/req/s of direct, in the same round; ' +
      '"gateway CPU µs/req" = user + system CPU of the gateway\'s processes (from /proc) per request answered, ' +
      'and "upstream CPU µs/req" the same for the upstream, which does the same work in every row (its cost per ' +
      'request still moves with the machine and with how a gateway batches its requests). "× nginx", "× Fastify" ' +
      'and "server µs/req" are the median of the ' +
      "per-round figures: the gateways run side by side within a round, and the machine's speed drifts " +
      'between rounds (see the range).',
    '',
    mdTable(
      HEADERS,
      rows(results.targets).map((r) => r.cells),
    ),
    '',
    ...results.targets.filter((t) => t.note).map((t) => `- **${t.name}**: ${t.status} — ${t.note}`),
    '',
    `${sluiceVerdict(results.targets)}.`,
    '',
    '![Throughput and p99 latency per gateway](bench/results/chart.svg)',
    '',
    '### Rejection cost',
    '',
    `One key limited to ${REFUSAL_LIMIT.perMinute / 60} requests/s (burst ${REFUSAL_LIMIT.burst}, no slowing), flooded by wrk after a warm-up with other keys ` +
      '(the `rate` flood of the per-kind isolation below, measured once).',
    '',
    rejectionTable(results),
    '',
    ...scenarioVerdicts(results).filter((l) => l.startsWith('Rejection')),
    '',
    '### Unknown keys',
    '',
    Object.keys(results.scenarios.unknownKeyCost ?? {}).length > 0
      ? 'Every request carries one of 50,000 made-up keys (bench/scenarios.ts `UNKNOWN_KEYS`), refused 401 (the peers take any key, so only sluice runs it); ' +
        'the gateway asks its store about unknown keys a bounded number of times per key poll, so this is a map lookup per request.\n\n' +
        unknownKeyTable(results)
      : 'No unknown-key run.',
    '',
    '### Isolation',
    '',
    isoRate
      ? `Account rate ${isoRate.accountRate} req/s; the calm account sends ${isoRate.accountRate / 2} req/s ` +
        `(${isoRate.alone.calm.sent} requests per phase), the flooding one ${isoRate.accountRate * 20} req/s ` +
        '(paced, open loop, latency from the scheduled send time; the gateway warmed up with other keys first; ' +
        'each account sends from its own client IP, 127.0.0.2 and 127.0.0.3). ' +
        'The direct row has no limiter: the whole flood reaches the upstream; it is the control for what the ' +
        'flood costs the shared core and the load driver.'
      : 'No isolation run.',
    '',
    isolationTable(results),
    '',
    ...scenarioVerdicts(results).filter((l) => l.startsWith('Isolation')),
    '',
    '### Isolation per refusal kind',
    '',
    Object.keys(results.scenarios.refusalKinds ?? {}).length > 0
      ? `For each kind the gateway is started afresh (every key at ${REFUSAL_LIMIT.perMinute / 60} requests/s, burst ${REFUSAL_LIMIT.burst}, no slowing) and warmed up; ` +
        `a calm partner (its own key, client IP 127.0.0.2) sends ${CALM_RATE} requests/s on a fixed schedule (latency from the scheduled send time), ` +
        'alone, then while wrk floods from 127.0.0.1 with 50 connections as fast as the gateway answers (one flooding key; for `unknown` 50,000 made-up keys). ' +
        '"flood answered" is what the flood key got right after the flood (for `rate`, 150 requests at once, past rate + burst); "refusals/s" the flood\'s non-2xx answers per second. ' +
        'The calm partner is measured for sluice and nginx; HAProxy and the Fastify peer give refusals/s only.\n\n' +
        KIND_MAPPING +
        '\n\n' +
        refusalKindTable(results)
      : 'No per-kind run.',
    '',
    ...(skipped.length ? ['Scenarios skipped:', ...skipped, ''] : []),
    '### Targets (issue 11)',
    '',
    "Each target of issue 11 against this run's figures (ratios within the run; throughput ratios are medians of per-round ratios).",
    '',
    goalsTable(results),
    '',
    '### Threads: both cores (issue 12)',
    '',
    threadsSection(results),
    '',
    '### Shared limit table (issue 12)',
    '',
    sharedTableSection(results),
    '',
    '### Targets (issue 12)',
    '',
    goalsTable(results, checkThreadsGoals(results)),
    '',
    'The third target (the limit across threads overshoots by at most the burst) is a test, not a figure: ' +
      '`test/integration/gateway-threads.test.ts`.',
    '',
    '### Targets (issue 13)',
    '',
    'The Redis rows are in the overhead table above: each starts its own redis-server on core 0 beside the gateway, ' +
      "and the gateway CPU column includes Redis' CPU.",
    '',
    goalsTable(results, checkRedisGoals(results)),
    '',
    '### Decision engine',
    '',
    engineSection(results.engine),
    '',
    END_MARKER,
  ].join('\n');
}

/** `doc` with the text between the markers replaced (markers appended if absent). */
export function replaceBetweenMarkers(doc: string, section: string): string {
  const start = doc.indexOf(START_MARKER);
  const end = doc.indexOf(END_MARKER);
  if (start === -1 || end === -1 || end < start) return `${doc.trimEnd()}\n\n${section}\n`;
  return doc.slice(0, start) + section + doc.slice(end + END_MARKER.length);
}
