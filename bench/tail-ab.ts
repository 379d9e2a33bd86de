/**
 * `node bench/tail-ab.ts --targets node-minimal,sluice --rounds 4 --seconds 5`: the latency
 * distribution (p50, p75, p90, p99, max) and req/s of a few targets under the overhead
 * load, in interleaved rounds, with each target's tail set beside a peer's (the first
 * target) in the same round. Every target on Node can run with Node flags (`--node-options
 * "--import ./x.mjs"`) and with `SLUICE_*` variables from this process's environment.
 * A tool for finding what makes a tail, not a part of `npm run bench`.
 */
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { installExitHandlers, spawnPinned, stopAll } from './lib/procs.ts';
import { HIGH_LIMIT } from './lib/target-types.ts';
import { startUpstreamProcess } from './lib/upstream-process.ts';
import { parseWrkTime } from './lib/wrk.ts';
import { disposeSluice } from './peers/sluice.ts';
import { TARGETS } from './targets.ts';

const SCRIPT = join(import.meta.dirname, 'wrk', 'keys.lua');

interface Row {
  rps: number;
  p: Record<string, number>;
  max: number;
}

async function wrk(url: string, keysFile: string, header: string, c: number, sec: number) {
  const args = ['-t1', `-c${c}`, `-d${sec}s`, '--latency', '--timeout', '5s', '-s', SCRIPT];
  args.push(`${url}/api/items/1`, '--', keysFile, header);
  const child = spawnPinned(1, 'wrk', args, { name: 'wrk' });
  const bound = setTimeout(() => void child.stop(), (sec + 15) * 1000);
  await child.exited();
  clearTimeout(bound);
  const text = child.output();
  const p: Record<string, number> = {};
  for (const m of text.matchAll(/^\s+(\d+)%\s+([\d.]+(?:us|ms|s))/gm)) p[m[1]] = parseWrkTime(m[2]);
  const max = text.match(/Latency\s+\S+\s+\S+\s+([\d.]+(?:us|ms|s))/);
  const rps = text.match(/Requests\/sec:\s+([\d.]+)/);
  return { rps: Number(rps?.[1] ?? 0), p, max: max ? parseWrkTime(max[1]) : 0 } as Row;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      targets: { type: 'string', default: 'node-minimal,sluice' },
      rounds: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '3' },
      connections: { type: 'string', default: '50' },
      'node-options': { type: 'string', default: '' },
    },
  });
  const names = values.targets.split(',');
  const rounds = Math.min(10, Number(values.rounds));
  const sec = Math.min(30, Number(values.seconds));
  const warm = Math.min(30, Number(values.warmup));
  const c = Number(values.connections);
  installExitHandlers(disposeSluice);
  const upstream = await startUpstreamProcess();
  const dir = tmpdir();
  const running = [];
  for (const name of names) {
    // `sluice+--max-semi-space-size=2`: the target with Node flags of its own.
    const [base, ...flags] = name.split('+');
    const t = TARGETS.find((x) => x.name === base);
    if (t === undefined) throw new Error(`no target ${name}`);
    const before = process.env.NODE_OPTIONS;
    const nodeOptions = [values['node-options'], ...flags].join(' ').trim();
    if (nodeOptions !== '') process.env.NODE_OPTIONS = nodeOptions;
    const r = await t.start(upstream.url, { limit: HIGH_LIMIT, keys: 1000 });
    if (before === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = before;
    const keysFile = join(dir, `tail-ab-${process.pid}-${name}.keys`);
    await writeFile(keysFile, `${r.keys.join('\n')}\n`);
    running.push({ name, t, r, keysFile });
  }
  const all: Record<string, Row[]> = {};
  for (let round = 0; round < rounds; round++) {
    for (const { name, t, r, keysFile } of running) {
      await wrk(r.url, keysFile, t.keyHeader, c, warm);
      const row = await wrk(r.url, keysFile, t.keyHeader, c, sec);
      all[name] ??= [];
      all[name].push(row);
      const ps = ['50', '75', '90', '99'].map((k) => `p${k} ${row.p[k]?.toFixed(2)}`).join(' ');
      const ratio = (row.p['99'] / row.p['50']).toFixed(2);
      process.stdout.write(
        `round ${round + 1} ${name.padEnd(12)} ${Math.round(row.rps)} req/s  ${ps}  max ${row.max.toFixed(1)}  p99/p50 ${ratio}\n`,
      );
    }
  }
  const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const peer = all[names[0]];
  for (const name of names) {
    const rows = all[name];
    const p99 = med(rows.map((r) => r.p['99']));
    const vsPeer = med(rows.map((r, i) => r.p['99'] / peer[i].p['99']));
    const own = med(rows.map((r) => r.p['99'] / r.p['50']));
    const rps = med(rows.map((r, i) => r.rps / peer[i].rps));
    process.stdout.write(
      `median ${name.padEnd(12)} p99 ${p99.toFixed(2)} ms  p99 ÷ ${names[0]}'s ${vsPeer.toFixed(2)}  p99 ÷ own p50 ${own.toFixed(2)}  req/s ÷ ${names[0]}'s ${rps.toFixed(2)}\n`,
    );
  }
  for (const { r } of running) await r.stop();
  await disposeSluice();
  await stopAll();
}

await main();
