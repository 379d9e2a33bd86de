/**
 * `npm run bench:profile -- [--targets data-path,sluice] [--seconds 15]`: where a gateway's
 * CPU time goes under the overhead load. Starts the upstream, then each target with
 * `node --cpu-prof` (pinned to the server core, limits never reached), warms it up, loads
 * it with wrk for `--seconds`, stops it, and prints the profile split by part (sluice's
 * own code, node:http, undici, streams and sockets with their syscalls, GC) and the
 * functions with the most self time. The raw `.cpuprofile` files stay in
 * bench/results/profiles/ (open them in Chrome DevTools).
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { profileMarkdown, splitProfile } from './lib/cpu-profile.ts';
import { installExitHandlers, stopAll } from './lib/procs.ts';
import { HIGH_LIMIT } from './lib/target-types.ts';
import { startUpstreamProcess } from './lib/upstream-process.ts';
import { runWrk } from './lib/wrk.ts';
import { disposeSluice } from './peers/sluice.ts';
import { TARGETS } from './targets.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const log = (s: string) => process.stdout.write(`${s}\n`);

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      targets: { type: 'string', default: 'data-path,sluice' },
      seconds: { type: 'string', default: '15' },
      warmup: { type: 'string', default: '8' },
      connections: { type: 'string', default: '50' },
      keys: { type: 'string', default: '1000' },
    },
  });
  const names = values.targets.split(',').filter(Boolean);
  const targets = TARGETS.filter((t) => names.includes(t.name) && t.name !== 'direct');
  if (targets.length !== names.length) {
    const known = TARGETS.filter((t) => t.name !== 'direct').map((t) => t.name);
    process.stderr.write(`bench:profile: --targets must name some of ${known.join(', ')}\n`);
    return 2;
  }
  const seconds = Number(values.seconds);
  const warmup = Number(values.warmup);
  const connections = Number(values.connections);
  const keys = Number(values.keys);
  if (![seconds, warmup, connections, keys].every((n) => Number.isFinite(n) && n > 0)) {
    process.stderr.write('bench:profile: --seconds, --warmup, --connections, --keys must be > 0\n');
    return 2;
  }
  const outDir = join(ROOT, 'bench', 'results', 'profiles');
  const workDir = join(tmpdir(), `sluice-profile-${process.pid}`);
  await mkdir(outDir, { recursive: true });
  await mkdir(workDir, { recursive: true });
  installExitHandlers(async () => {
    await disposeSluice();
    await rm(workDir, { recursive: true, force: true });
  });
  const upstream = await startUpstreamProcess();
  const sections: string[] = [];
  try {
    for (const t of targets) {
      const profDir = join(workDir, t.name);
      await mkdir(profDir, { recursive: true });
      // The gateway (and only it: the upstream is already running) writes a profile at exit.
      const before = process.env.NODE_OPTIONS;
      process.env.NODE_OPTIONS = `${before ?? ''} --cpu-prof --cpu-prof-dir=${profDir}`.trim();
      const running = await t.start(upstream.url, { limit: HIGH_LIMIT, keys }).finally(() => {
        if (before === undefined) delete process.env.NODE_OPTIONS;
        else process.env.NODE_OPTIONS = before;
      });
      let rps = 0;
      try {
        const keysFile = join(workDir, `${t.name}.keys`);
        await writeFile(keysFile, `${running.keys.join('\n')}\n`);
        const load = { url: running.url, keysFile, header: t.keyHeader, connections };
        await runWrk({ ...load, durationSec: warmup });
        rps = (await runWrk({ ...load, durationSec: seconds })).rps;
      } finally {
        await running.stop();
      }
      // Children started through a launcher (sluice's CLI) may leave more than one profile:
      // the largest is the server's.
      const files = (await readdir(profDir)).filter((f) => f.endsWith('.cpuprofile'));
      if (files.length === 0) throw new Error(`${t.name} wrote no CPU profile`);
      let best = { file: '', text: '' };
      for (const f of files) {
        const text = await readFile(join(profDir, f), 'utf8');
        if (text.length > best.text.length) best = { file: f, text };
      }
      const kept = join(outDir, `${t.name}.cpuprofile`);
      await writeFile(kept, best.text);
      const split = splitProfile(JSON.parse(best.text));
      const section = profileMarkdown(
        `${t.label}, ${Math.round(rps).toLocaleString('en-US')} req/s under the profiler`,
        split,
      );
      sections.push(section);
      log(`\n${section}\n\n(profile: ${kept})`);
    }
    await writeFile(join(outDir, 'summary.md'), `${sections.join('\n\n')}\n`);
    return 0;
  } finally {
    await upstream.child.stop();
    await stopAll();
    await disposeSluice();
    await rm(workDir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2)).catch((error) => {
    process.stderr.write(`bench:profile: ${error instanceof Error ? error.message : error}\n`);
    return 1;
  });
}
