/**
 * `node bench/refusal-cpu.ts --kinds rate,suspended,blocked-ip,unknown --rounds 3`: sluice's
 * CPU per refusal for each refusal kind (the flood of bench/refusal-kinds.ts, wrk from
 * 127.0.0.1, no calm partner), from /proc: a figure the machine's other load moves far
 * less than refusals per second. `--profile DIR` also writes each kind's CPU profile
 * there and prints its top (`bench/lib/cpu-profile.ts`).
 *
 * @example
 *   node bench/refusal-cpu.ts --kinds rate --rounds 3 --seconds 4
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { profileMarkdown, splitProfile } from './lib/cpu-profile.ts';
import { groupCpuMs } from './lib/group-cpu.ts';
import { installExitHandlers, spawnPinned, stopAll } from './lib/procs.ts';
import { REFUSAL_KINDS, type RefusalKind } from './lib/target-types.ts';
import { startUpstreamProcess } from './lib/upstream-process.ts';
import { runWrk } from './lib/wrk.ts';
import { disposeSluice } from './peers/sluice.ts';
import { REFUSAL_LIMIT } from './refusal-kinds.ts';
import { madeUpKeys, UNKNOWN_KEYS, warmUp } from './scenarios.ts';
import { TARGETS } from './targets.ts';

/** CPU ticks of each thread (by name) of the processes in group `pgid`. */
function threadTicks(pgid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) !== pgid) continue;
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const t = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const name = t.slice(t.indexOf('(') + 1, t.lastIndexOf(')')).replace(/\d+$/, '');
        const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
        out.set(name, (out.get(name) ?? 0) + Number(f[11]) + Number(f[12]));
      }
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

const { values } = parseArgs({
  options: {
    kinds: { type: 'string', default: REFUSAL_KINDS.join(',') },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '4' },
    profile: { type: 'string' },
  },
});
const kinds = values.kinds.split(',') as (RefusalKind | 'floor')[];
const rounds = Math.min(10, Number(values.rounds));
const seconds = Math.min(30, Number(values.seconds));
const sluice = TARGETS.find((t) => t.name === 'sluice');
if (sluice === undefined) throw new Error('no sluice target');
const workDir = join(tmpdir(), `sluice-refusal-cpu-${process.pid}`);
await mkdir(workDir, { recursive: true });
installExitHandlers(async () => {
  await disposeSluice();
  await rm(workDir, { recursive: true, force: true });
});
const upstream = await startUpstreamProcess();

/** The same flood against bench/peers/node-refusal-floor.ts: Node's own floor per refusal. */
async function floor(): Promise<string> {
  const child = spawnPinned(
    0,
    process.execPath,
    [join(import.meta.dirname, 'peers', 'node-refusal-floor.ts')],
    { name: 'floor' },
  );
  try {
    const [, url] = await child.waitForLine(/listening (http:\/\/\S+)/, 10_000);
    const keysFile = join(workDir, 'floor.keys');
    await writeFile(keysFile, 'k\n');
    const load = { url, keysFile, header: 'x-api-key', connections: 50 };
    await runWrk({ ...load, durationSec: 2 });
    const cpu0 = groupCpuMs(child.pid);
    const r = await runWrk({ ...load, durationSec: seconds });
    const us = ((groupCpuMs(child.pid) - cpu0) * 1000) / r.requests;
    return `${'floor'.padEnd(10)} ${Math.round(r.non2xx / r.durationSec)} refusals/s  ${us.toFixed(1)} µs CPU per answer  p99 ${r.p99Ms} ms`;
  } finally {
    await child.stop();
  }
}
const opts = {
  durationSec: seconds,
  warmupSec: 2,
  connections: 50,
  keys: 20,
  maxNoise: 2,
  workDir,
};
try {
  for (let round = 1; round <= rounds; round++) {
    for (const kind of kinds) {
      if (kind === 'floor') {
        process.stdout.write(`round ${round} ${await floor()}\n`);
        continue;
      }
      const profDir = values.profile === undefined ? undefined : join(workDir, `prof-${kind}`);
      const before = process.env.NODE_OPTIONS;
      if (profDir !== undefined) {
        await mkdir(profDir, { recursive: true });
        process.env.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${profDir}`;
      }
      const running = await sluice.start(upstream.url, {
        limit: REFUSAL_LIMIT,
        keys: opts.keys,
        refusal: { kind },
      });
      if (before === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = before;
      let line = '';
      try {
        await warmUp(sluice, running, opts);
        await running.applyRefusal?.();
        const keys = kind === 'unknown' ? madeUpKeys(UNKNOWN_KEYS) : [running.keys[0]];
        const keysFile = join(workDir, `${kind}.keys`);
        await writeFile(keysFile, `${keys.join('\n')}\n`);
        const load = { url: running.url, keysFile, header: sluice.keyHeader, connections: 50 };
        await runWrk({ ...load, durationSec: 2 });
        const cpu0 = groupCpuMs(running.pid ?? 0);
        const threads0 = threadTicks(running.pid ?? 0);
        const r = await runWrk({ ...load, durationSec: seconds });
        const cpuMs = groupCpuMs(running.pid ?? 0) - cpu0;
        const threads = threadTicks(running.pid ?? 0);
        for (const [name, ticks] of threads) threads.set(name, ticks - (threads0.get(name) ?? 0));
        const us = (cpuMs * 1000) / r.requests;
        const total = [...threads.values()].reduce((a, b) => a + b, 0) || 1;
        const split = [...threads]
          .map(([n, t]) => `${n} ${Math.round((100 * t) / total)}%`)
          .join(', ');
        line = `round ${round} ${kind.padEnd(10)} ${Math.round(r.non2xx / r.durationSec)} refusals/s  ${us.toFixed(1)} µs CPU per answer  p99 ${r.p99Ms} ms  (threads: ${split})`;
      } finally {
        await running.stop();
      }
      process.stdout.write(`${line}\n`);
      if (profDir !== undefined && values.profile !== undefined && round === 1) {
        let best = '';
        for (const f of await readdir(profDir)) {
          const text = await readFile(join(profDir, f), 'utf8');
          if (text.length > best.length) best = text;
        }
        await mkdir(values.profile, { recursive: true });
        await writeFile(join(values.profile, `refusal-${kind}.cpuprofile`), best);
        process.stdout.write(
          `${profileMarkdown(`${kind} flood`, splitProfile(JSON.parse(best), 25))}\n`,
        );
      }
    }
  }
} finally {
  await upstream.child.stop();
  await stopAll();
  await disposeSluice();
  await rm(workDir, { recursive: true, force: true });
}
