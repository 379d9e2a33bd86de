import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chartSvg } from '../lib/chart.ts';
import { checkRedisGoals, checkThreadsGoals, roundRatio } from '../lib/goals.ts';
import { END_MARKER, markdownSection, replaceBetweenMarkers, START_MARKER } from '../lib/report.ts';
import {
  addRatios,
  median,
  type Results,
  reduceRuns,
  sluiceVerdict,
  type TargetSummary,
} from '../lib/results.ts';

const run = (round: number, rps: number, p99Ms: number) => ({
  round,
  rps,
  p99Ms,
  p50Ms: p99Ms / 4,
  requests: rps * 5,
  durationSec: 5,
  non2xx: 0,
  socketErrors: 0,
  tries: 1,
  noise: { foreignCores: round / 10, stealCores: 0 },
});

function summary(name: string, rpsList: number[]): TargetSummary {
  const s: TargetSummary = {
    name,
    label: `${name} label`,
    limits: name !== 'direct',
    status: 'measured',
    runs: rpsList.map((r, i) => run(i + 1, r, 1000 / r)),
  };
  reduceRuns(s);
  return s;
}

test('median takes the middle value, or the mean of the two middle ones', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

test('reduceRuns keeps each metric median and the throughput range', () => {
  const s = summary('nginx', [100, 300, 200]);
  assert.equal(s.median?.rps, 200);
  assert.deepEqual(s.rpsRange, [100, 300]);
  // Noise of rounds 1, 2, 3 is 0.1, 0.2, 0.3 cores.
  assert.equal(s.median?.noiseCores, 0.2);
});

test('ratios to nginx and Fastify, and server µs per request against direct', () => {
  const targets = [
    summary('direct', [40_000]),
    summary('nginx', [16_000]),
    summary('fastify', [5_000]),
    summary('sluice', [10_000]),
  ];
  addRatios(targets);
  const sluice = targets[3];
  assert.equal(sluice.vsNginx, 10_000 / 16_000);
  assert.equal(sluice.vsFastify, 2);
  // 1/10000 s − 1/40000 s = 75 µs.
  assert.ok(Math.abs((sluice.serverUsPerReq ?? 0) - 75) < 1e-9);
  assert.equal(targets[0].serverUsPerReq, undefined);
  assert.match(sluiceVerdict(targets), /vs nginx 0\.63× .*met.*vs Fastify 2\.00× .*met/);
});

test('ratios are the median of the per-round ratios, rounds matched by number', () => {
  // The machine halves its speed in round 2: each round's ratio is still 0.5.
  const nginx = summary('nginx', [20_000, 10_000, 20_000]);
  const sluice = summary('sluice', [10_000, 5_000, 10_000]);
  // Round 3 of sluice failed: only rounds 1 and 2 pair up.
  sluice.runs = sluice.runs.slice(0, 2);
  const targets = [nginx, sluice];
  addRatios(targets);
  assert.equal(sluice.vsNginx, 0.5);
  assert.equal(sluice.vsFastify, undefined);
});

test('the verdict says pending while sluice has no figure', () => {
  const targets = [summary('nginx', [1]), summary('fastify', [1])];
  targets.push({ name: 'sluice', label: 's', limits: true, status: 'not available', runs: [] });
  addRatios(targets);
  assert.match(sluiceVerdict(targets), /pending/);
});

function results(): Results {
  const targets = [summary('direct', [40_000]), summary('nginx', [16_000])];
  targets.push({
    name: 'sluice',
    label: 'sluice <mem>',
    limits: true,
    status: 'not available',
    runs: [],
    note: 'serve not built',
  });
  addRatios(targets);
  return {
    date: '2025-01-01T00:00:00.000Z',
    command: 'npm run bench -- --quick',
    settings: {
      rounds: 3,
      durationSec: 5,
      connections: 50,
      keys: 1000,
      pinned: true,
      maxNoise: 0.25,
      tries: 3,
    },
    machine: {
      cores: 2,
      cpu: 'Test CPU',
      kernel: '6',
      node: 'v24',
      nginx: '1.22',
      wrk: 'wrk 4',
      packages: {},
      source: { commit: 'abc1234', changedFiles: 3 },
    },
    targets,
    scenarios: { rejectionCost: {}, isolation: {}, skipped: { sluice: 'not available' } },
  };
}

test('the Markdown section has the table, the pending note and the chart, between markers', () => {
  const md = markdownSection(results());
  assert.ok(md.startsWith(START_MARKER) && md.endsWith(END_MARKER));
  assert.match(md, /\| nginx label \| 429 after|\| nginx label \| – \|/);
  assert.match(md, /\| 16,000 \|/);
  assert.match(md, /sluice.*not available — serve not built/);
  assert.match(md, /chart\.svg/);
  assert.match(md, /commit abc1234 with 3 files under src\/ changed/);
});

test('the decision engine section has a row per implementation and the target line', () => {
  const row = (impl: 'sluice' | 'sluice-awaited' | 'rlf', dps: number, bytes: number) => ({
    impl,
    best: { reused: dps, fresh: dps },
    median: { reused: dps, fresh: dps * 0.9 },
    bytesPerKey: bytes,
  });
  const engine = [
    {
      keys: 1_000_000,
      repeats: 3,
      rows: [
        row('sluice', 3_000_000, 91.2),
        row('sluice-awaited', 2_000_000, 91),
        row('rlf', 600_000, 420),
      ],
      ratio: { reused: 5, fresh: 4.5 },
      perRepeat: [5, 5, 5],
      memoryRatio: 420 / 91.2,
    },
  ];
  const md = markdownSection({ ...results(), engine });
  assert.match(
    md,
    /\| sluice engine \+ memory store .* \| 1,000,000 \| 3,000,000 \| 2,700,000 \| 91\.2 \| 5\.00× \/ 4\.50× \| 4\.6× less \|/,
  );
  assert.match(
    md,
    /Engine target at 1,000,000 keys .*: 5\.00× reused \/ 4\.50× fresh, 91\.2 bytes\/key\./,
  );
  assert.match(markdownSection(results()), /Not run \(--no-engine\)/);
});

test('replaceBetweenMarkers swaps only the section, or appends it', () => {
  const doc = `# B\n\nintro\n\n${START_MARKER}\nold\n${END_MARKER}\n\nafter\n`;
  const out = replaceBetweenMarkers(doc, `${START_MARKER}\nnew\n${END_MARKER}`);
  assert.equal(out, `# B\n\nintro\n\n${START_MARKER}\nnew\n${END_MARKER}\n\nafter\n`);
  assert.equal(replaceBetweenMarkers('# B\n', 'X'), '# B\n\nX\n');
});

test('the chart has one bar per measured gateway in each panel and escapes labels', () => {
  const svg = chartSvg(results());
  assert.ok(svg.startsWith('<svg') && svg.trimEnd().endsWith('</svg>'));
  assert.equal(svg.match(/<rect [^>]*rx="2"/g)?.length, 4);
  assert.match(svg, /sluice &lt;mem&gt;/);
  assert.match(svg, /not available/);
  assert.match(svg, />40,000 \(2\.50× nginx\)</);
});

test('issue 13: sluice on Redis against sluice on memory and Fastify + RLF on Redis, per round', () => {
  const r = results();
  // Round 2 is slow for all: the per-round ratios stay 0.9 and 2.5 (median), not the ratio of medians.
  r.targets.push(
    summary('sluice-redis', [9_000, 4_500, 9_000]),
    summary('fastify-rlf-redis', [3_600, 1_800, 4_000]),
  );
  r.targets.splice(2, 1, summary('sluice', [10_000, 5_000, 10_000]));
  const [memory, peer] = checkRedisGoals(r);
  assert.equal(memory.verdict, 'met');
  assert.match(memory.figures, /^0\.90× \(9,000 vs 10,000 req\/s\)$/);
  assert.equal(peer.verdict, 'met');
  assert.equal(roundRatio(r, 'sluice-redis', 'fastify-rlf-redis'), 2.5);
  r.targets.splice(r.targets.length - 1, 1, summary('fastify-rlf-redis', [5_000, 2_500, 5_000]));
  assert.equal(checkRedisGoals(r)[1].verdict, 'missed');
  assert.equal(checkRedisGoals(results())[0].verdict, 'pending');
});

test('issue 12: the shared table and CPU per request with threads, met, missed or pending', () => {
  const sharedTable = {
    rounds: 2,
    ms: 2000,
    keys: 10_000,
    rows: [
      { kind: 'memory' as const, threads: 1, wall: [2e6, 2e6], cpu: [2e6, 2e6] },
      { kind: 'shared' as const, threads: 1, wall: [1e6, 0.5e6], cpu: [1e6, 1e6] },
      { kind: 'shared' as const, threads: 2, wall: [0.8e6, 0.3e6], cpu: [0.9e6, 0.9e6] },
    ],
  };
  const threads = {
    rows: [],
    connections: 50,
    durationSec: 5,
    sluiceCpuRatio: 1.2,
    nginxCpuRatio: 1.05,
  };
  const [table, cpu] = checkThreadsGoals({ ...results(), sharedTable, threads });
  // Per round 0.8 and 0.6: median 0.7, met (at the bound); per CPU second 0.9.
  assert.equal(table.verdict, 'met');
  assert.match(table.figures, /^0\.70× \(per CPU second 0\.90×\)$/);
  assert.equal(cpu.verdict, 'missed');
  assert.match(cpu.figures, /1\.20× \(nginx worker_processes 2 ÷ 1: 1\.05×\)/);
  const none = checkThreadsGoals({ ...results(), threads: { error: 'nginx missing' } });
  assert.deepEqual(
    none.map((g) => g.verdict),
    ['pending', 'pending'],
  );
  const md = markdownSection({ ...results(), sharedTable, threads });
  assert.match(md, /### Targets \(issue 12\)/);
  assert.match(md, /\| shared table × 2 \| 550,000 \| 900,000 \| 0\.70× \| 0\.90× \|/);
  assert.match(md, /### Targets \(issue 13\)/);
});
