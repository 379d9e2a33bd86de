/**
 * `npm run bench`: starts the upstream, checks that each gateway really limits, then
 * loads each in turn with wrk over several interleaved rounds (servers on core 0, wrk
 * on core 1), reports medians, runs the rejection-cost and isolation scenarios, and
 * writes bench/results/latest.json, bench/results/chart.svg and the results section of
 * BENCHMARKS.md. See BENCHMARKS.md for the method; `--help` for the options.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareEngine } from './engine-memory.ts';
import { chartSvg } from './lib/chart.ts';
import { measureNoise, noiseCores, waitForQuiet } from './lib/cpu-noise.ts';
import { groupCpuMs } from './lib/group-cpu.ts';
import { checkLimits } from './lib/limit-check.ts';
import { describeMachine, installHint, missingTools } from './lib/machine.ts';
import { type BenchOptions, parseOptions, USAGE } from './lib/options.ts';
import { type Child, installExitHandlers, liveGroups, setPinning, stopAll } from './lib/procs.ts';
import { goalLines, markdownSection, replaceBetweenMarkers, textTable } from './lib/report.ts';
import {
  addRatios,
  type Results,
  type RoundRun,
  reduceRuns,
  type ScenarioResults,
  type TargetSummary,
} from './lib/results.ts';
import {
  HIGH_LIMIT,
  LOW_LIMIT,
  type RunningTarget,
  type Target,
  TargetUnavailable,
} from './lib/target-types.ts';
import { startUpstreamProcess } from './lib/upstream-process.ts';
import { runWrk } from './lib/wrk.ts';
import { disposeSluice } from './peers/sluice.ts';
import { refusalKind } from './refusal-kinds.ts';
import { isolation } from './scenarios.ts';
import { sharedTable } from './shared-table.ts';
import { TARGETS } from './targets.ts';
import { threadsScenario } from './threads-scenario.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const log = (s: string) => process.stdout.write(`${s}\n`);
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Starts `t` with a low limit and checks it answers 429 for one key, 200 for another. */
async function limitCheck(t: Target, s: TargetSummary, upstream: string): Promise<void> {
  const reason = await t.unavailable();
  if (reason !== undefined) {
    s.status = 'not available';
    s.note = reason;
    return;
  }
  if (!t.limits) return;
  try {
    const running = await t.start(upstream, { limit: LOW_LIMIT, keys: 2 });
    try {
      s.check = await checkLimits(running.url, t.keyHeader, running.keys[0], running.keys[1]);
    } finally {
      await running.stop();
    }
    if (!s.check.ok) {
      s.status = 'does not limit';
      s.note = `limit check failed: ${s.check.detail}; no figure is reported`;
    }
  } catch (error) {
    s.status = error instanceof TargetUnavailable ? 'not available' : 'failed';
    s.note = message(error);
  }
}

/**
 * CPU ms of the gateway's process groups (with its helpers: the redis-server of a Redis
 * row) and of the upstream's, so far.
 */
function cpuOf(running: RunningTarget, upstreamPid: number) {
  const gatewayPid = running.pid;
  const helpers = (running.helperPids ?? []).reduce((sum, pid) => sum + groupCpuMs(pid), 0);
  return {
    gateway: gatewayPid === undefined ? undefined : groupCpuMs(gatewayPid) + helpers,
    upstream: groupCpuMs(upstreamPid),
  };
}

/** µs of CPU per request answered between two `cpuOf` readings. */
function perRequest(a: ReturnType<typeof cpuOf>, b: ReturnType<typeof cpuOf>, requests: number) {
  if (requests <= 0) return {};
  const us = (from: number, to: number) => ((to - from) * 1000) / requests;
  return {
    gatewayCpuUs:
      a.gateway === undefined || b.gateway === undefined ? undefined : us(a.gateway, b.gateway),
    upstreamCpuUs: us(a.upstream, b.upstream),
  };
}

/**
 * One measured run of `t` (after a warm-up), added to `s.runs`. The machine is shared:
 * the run waits for other processes to quieten (up to 30 s), and a run during which they
 * took more than `--max-noise` cores is redone, up to `--tries` runs; the least noisy
 * one is kept, with its noise recorded.
 */
async function measure(
  t: Target,
  s: TargetSummary,
  upstream: string,
  upstreamPid: number,
  round: number,
  opts: BenchOptions,
  workDir: string,
): Promise<void> {
  const running = await t.start(upstream, { limit: HIGH_LIMIT, keys: opts.keys });
  try {
    const keysFile = join(workDir, `${t.name}.keys`);
    await writeFile(keysFile, `${running.keys.join('\n')}\n`);
    const load = { url: running.url, keysFile, header: t.keyHeader, connections: opts.connections };
    if (opts.warmupSec > 0) await runWrk({ ...load, durationSec: opts.warmupSec });
    let best: RoundRun | undefined;
    let made = 0;
    for (let tries = 1; tries <= opts.tries; tries++) {
      made = tries;
      await waitForQuiet(opts.maxNoise, 30_000, liveGroups);
      const cpuBefore = cpuOf(running, upstreamPid);
      const [r, noise] = await Promise.all([
        runWrk({ ...load, durationSec: opts.durationSec }),
        measureNoise(opts.durationSec * 1000, liveGroups),
      ]);
      const cpu = perRequest(cpuBefore, cpuOf(running, upstreamPid), r.requests);
      const run: RoundRun = { ...r, round, noise, tries, ...cpu };
      if (best === undefined || noiseCores(noise) < noiseCores(best.noise)) best = run;
      if (noiseCores(noise) <= opts.maxNoise) break;
      if (tries < opts.tries) {
        log(
          `  round ${round}/${opts.rounds} ${t.name}: other processes took ${noiseCores(noise).toFixed(2)} cores; measuring again`,
        );
      }
    }
    if (best === undefined) return;
    const problem = await running.problems?.();
    if (problem !== undefined) {
      s.note = `${s.note ? `${s.note}; ` : ''}round ${round}: ${problem}`;
      log(`  round ${round}/${opts.rounds} ${t.name}: ${problem}`);
    }
    const r: RoundRun = { ...best, tries: made };
    s.runs.push(r);
    const errs = r.non2xx + r.socketErrors;
    log(
      `  round ${round}/${opts.rounds} ${t.name.padEnd(12)} ${Math.round(r.rps).toLocaleString('en-US').padStart(8)} req/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  others ${noiseCores(r.noise).toFixed(2)} cores${errs ? `  ${errs} errors/non-2xx` : ''}`,
    );
  } finally {
    await running.stop();
  }
}

async function scenarios(
  targets: readonly Target[],
  summaries: readonly TargetSummary[],
  upstream: string,
  opts: BenchOptions,
  workDir: string,
): Promise<ScenarioResults> {
  const out: ScenarioResults = {
    rejectionCost: {},
    isolation: {},
    unknownKeyCost: {},
    refusalKinds: {},
    skipped: {},
  };
  const scenarioOpts = {
    durationSec: opts.durationSec,
    warmupSec: opts.warmupSec,
    connections: opts.connections,
    keys: opts.keys,
    maxNoise: opts.maxNoise,
    workDir,
  };
  for (const [i, t] of targets.entries()) {
    const s = summaries[i];
    if (s.status !== 'measured') {
      out.skipped[t.name] = `${s.status}${s.note ? ` (${s.note})` : ''}`;
      continue;
    }
    // One unlimited control is enough: the data-path floor would repeat direct's rows.
    if (!t.limits && t.name !== 'direct') continue;
    if (t.scenarios === false) {
      out.skipped[t.name] =
        `overhead rows only (${t.name === 'sluice-bun' ? 'the cost of the runtime' : 'the cost of the shared store'})`;
      continue;
    }
    log(`  scenarios: ${t.name}`);
    // One flood per refusal kind; its 429 flood is the rejection cost, and sluice's
    // unknown-key flood the unknown-key cost (each measured once, reported in both places).
    const kinds: NonNullable<ScenarioResults['refusalKinds']>[string] = {};
    for (const kind of t.refusalKinds ?? []) {
      try {
        const run = await refusalKind(t, kind, upstream, scenarioOpts);
        kinds[kind] = run;
        log(
          `    ${kind.padEnd(10)} flood answered ${run.floodStatus}: ${Math.round(run.flood.rejectedPerSec).toLocaleString('en-US')} refusals/s` +
            (run.calmAlone && run.calmWithFlood
              ? `; calm p99 ${run.calmAlone.p99Ms.toFixed(2)} → ${run.calmWithFlood.p99Ms.toFixed(2)} ms`
              : ''),
        );
        if (kind === 'rate') out.rejectionCost[t.name] = run.flood;
        if (kind === 'unknown' && t.refusesUnknownKeys && out.unknownKeyCost !== undefined) {
          out.unknownKeyCost[t.name] = run.flood;
        }
      } catch (error) {
        kinds[kind] = { error: message(error) };
        log(`    ${kind}: failed: ${message(error)}`);
      }
    }
    if (out.refusalKinds !== undefined && t.refusalKinds?.length) out.refusalKinds[t.name] = kinds;
    try {
      out.isolation[t.name] = await isolation(t, upstream, scenarioOpts);
    } catch (error) {
      out.isolation[t.name] = { error: message(error) };
    }
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseOptions(argv);
  } catch (error) {
    process.stderr.write(`bench: ${message(error)}\n\n${USAGE}`);
    return 2;
  }
  if (opts.help) {
    log(USAGE);
    return 0;
  }
  if (opts.render) return render();
  const targets = opts.targets.length
    ? TARGETS.filter((t) => opts.targets.includes(t.name))
    : [...TARGETS];
  const unknown = opts.targets.filter((n) => !TARGETS.some((t) => t.name === n));
  if (unknown.length) {
    process.stderr.write(
      `bench: unknown target(s) ${unknown.join(', ')}; known: ${TARGETS.map((t) => t.name).join(', ')}\n`,
    );
    return 2;
  }
  const missing = missingTools();
  if (missing.includes('wrk')) {
    process.stderr.write(
      `bench: wrk is not installed. Install it with:\n  ${installHint(missing)}\n`,
    );
    return 1;
  }
  if (missing.length)
    log(`bench: missing ${missing.join(', ')} (install: ${installHint(missing)})`);
  const machine = describeMachine();
  const pinned = opts.pin && !missing.includes('taskset') && machine.cores >= 2;
  setPinning(pinned);
  if (!pinned)
    log('bench: NOT pinning servers and load to separate cores; figures are not comparable');

  const workDir = await mkdtemp(join(tmpdir(), 'sluice-bench-'));
  installExitHandlers(async () => {
    await disposeSluice();
    await rm(workDir, { recursive: true, force: true });
  });
  let upstream: { url: string; child: Child } | undefined;
  try {
    upstream = await startUpstreamProcess();
    log(
      `bench: upstream ${upstream.url}; ${opts.rounds} rounds × ${opts.durationSec} s, ${opts.connections} connections, ${opts.keys} keys`,
    );
    const summaries: TargetSummary[] = targets.map((t) => ({
      name: t.name,
      label: t.label,
      limits: t.limits,
      status: 'measured',
      runs: [],
    }));

    log(
      'bench: checking that each gateway really limits (low limit: 429 for one key, 200 for another)',
    );
    for (const [i, t] of targets.entries()) {
      await limitCheck(t, summaries[i], upstream.url);
      const s = summaries[i];
      log(
        `  ${t.name.padEnd(12)} ${s.check ? s.check.detail : t.limits ? '' : 'no limiter (reference)'}${s.status !== 'measured' ? ` → ${s.status}: ${s.note}` : ''}`,
      );
    }

    for (let round = 1; round <= opts.rounds; round++) {
      for (const [i, t] of targets.entries()) {
        const s = summaries[i];
        if (s.status !== 'measured') continue;
        try {
          await measure(t, s, upstream.url, upstream.child.pid, round, opts, workDir);
        } catch (error) {
          s.status = error instanceof TargetUnavailable ? 'not available' : 'failed';
          s.note = `round ${round}: ${message(error)}`;
          log(`  round ${round}/${opts.rounds} ${t.name}: ${s.status}: ${s.note}`);
        }
      }
    }
    for (const s of summaries) {
      if (s.status === 'measured') reduceRuns(s);
      if (s.median && s.median.non2xx + s.median.socketErrors > 0 && !s.note) {
        s.note = 'errors or non-2xx answers during the overhead run: check the gateway';
      }
    }
    addRatios(summaries);
    log(`\n${textTable(summaries)}\n`);

    let scenarioResults: ScenarioResults = {
      rejectionCost: {},
      isolation: {},
      skipped: { all: '--no-scenarios' },
    };
    if (opts.scenarios) {
      log('bench: scenarios (isolation per refusal kind, rejection cost, isolation)');
      scenarioResults = await scenarios(targets, summaries, upstream.url, opts, workDir);
    }

    let engine: Results['engine'];
    if (opts.engine) {
      log('bench: decision engine vs rate-limiter-flexible (10k and 1M keys, 3 repeats)');
      try {
        engine = [10_000, 1_000_000].map((n) => compareEngine(n, 3, pinned ? 0 : undefined));
      } catch (error) {
        engine = { error: message(error) };
      }
    }

    let threads: Results['threads'];
    let shared: Results['sharedTable'];
    if (opts.threads) {
      log(
        'bench: threads (sluice --threads 1/2, nginx worker_processes 1/2; both cores, unpinned)',
      );
      try {
        threads = await threadsScenario({
          rounds: opts.rounds,
          durationSec: opts.durationSec,
          warmupSec: opts.warmupSec,
          connections: opts.connections,
          keys: opts.keys,
          maxNoise: opts.maxNoise,
          workDir,
          log,
        });
      } catch (error) {
        threads = { error: message(error) };
      }
      log('bench: shared limit table, decisions per thread with 1, 2 and 4 threads');
      try {
        shared = await sharedTable(Math.min(opts.rounds, 3), 2000, false, (l) => log(`  ${l}`));
      } catch (error) {
        shared = { error: message(error) };
      }
    }

    const results: Results = {
      date: new Date().toISOString(),
      command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
      settings: {
        rounds: opts.rounds,
        durationSec: opts.durationSec,
        connections: opts.connections,
        keys: opts.keys,
        pinned,
        maxNoise: opts.maxNoise,
        tries: opts.tries,
      },
      machine,
      targets: summaries,
      scenarios: scenarioResults,
      engine,
      threads,
      sharedTable: shared,
    };
    log(`bench: the targets in this run:\n${goalLines(results)}`);
    if (opts.write) await writeResults(results);
    else log(markdownSection(results));
    return 0;
  } finally {
    await upstream?.child.stop();
    await stopAll();
    await disposeSluice();
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Writes bench/results/ and the section of BENCHMARKS.md between the markers. */
async function writeResults(results: Results): Promise<void> {
  const dir = join(ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(join(dir, 'chart.svg'), chartSvg(results));
  const docPath = join(ROOT, 'BENCHMARKS.md');
  const doc = await readFile(docPath, 'utf8').catch(() => '# Benchmarks\n');
  await writeFile(docPath, replaceBetweenMarkers(doc, markdownSection(results)));
  log('bench: wrote bench/results/latest.json, bench/results/chart.svg, BENCHMARKS.md');
}

/** `--render`: the report again from the last run's figures (after a change to the report). */
async function render(): Promise<number> {
  const file = join(ROOT, 'bench', 'results', 'latest.json');
  const results = JSON.parse(await readFile(file, 'utf8')) as Results;
  addRatios(results.targets);
  await writeResults(results);
  return 0;
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2)).catch((error) => {
    process.stderr.write(
      `bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return 1;
  });
}
