/**
 * sluice as a benchmark target: the real CLI (`sluice keys create`, `sluice serve`)
 * with a generated policy and a fresh data directory per start, memory store.
 *
 * While the gateway is being built these commands fail; that is reported as
 * "not available" (TargetUnavailable) and the rest of the run goes on.
 *
 * @example
 *   const running = await startSluice(upstreamUrl, { limit: HIGH_LIMIT, keys: 1000 });
 *   await running.stop();
 */
import { rmSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { freePort, waitForHttp } from '../lib/net.ts';
import { spawnPinned } from '../lib/procs.ts';
import { type Limit, type StartOptions, TargetUnavailable } from '../lib/target-types.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'src', 'cli', 'main.ts');
const READY_MS = 10_000;
const KEYS_MS = 180_000;

const ms = (n: number) => `${n / 1000}s`;

/**
 * The policy file for `limit`. The client IP limits sit far above any load here (all
 * load comes from 127.0.0.1), so only the account limit under test can answer 429.
 * With `refuseUnknownKeys`, a key never created is answered 401 `key-unknown` (not let
 * through as a keyless caller), and the afterAuthFailure safeguard only reports (dry
 * run), so the flood stays a flood of 401s instead of becoming 403 `ip-blocked`.
 */
export function sluicePolicyYaml(
  limit: Limit,
  options: { refuseUnknownKeys?: boolean } = {},
): string {
  const rate = `${limit.perMinute}/min`;
  return stringify({
    ...(options.refuseUnknownKeys
      ? {
          server: { unauthenticated: 'refuse' },
          safeguards: { afterAuthFailure: { dryRun: true } },
        }
      : {}),
    // At most 10^9 per period: sluice refuses larger counts (RateLimit headers carry them).
    ip: { warn: '500000000/min', block: '1000000000/min', concurrency: 100_000 },
    plans: {
      standard: {
        base: rate,
        perUnit: '0/min',
        min: rate,
        max: rate,
        burst: limit.burst,
        maxDelay: ms(limit.maxDelayMs),
        maxSlowed: limit.maxSlowed,
        concurrency: limit.concurrency,
        queue: limit.queue,
      },
    },
  });
}

/** A data dir holding `count` keys (acct-1…acct-N), made once and copied per start. */
const templates = new Map<number, Promise<{ dir: string; keys: string[] }>>();
/** Every temp dir made here, removed at exit even when nobody called disposeSluice. */
const madeDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of madeDirs) rmSync(dir, { recursive: true, force: true });
});

function template(count: number) {
  let t = templates.get(count);
  if (t === undefined) {
    t = makeKeys(count);
    templates.set(count, t);
    // A failure is not cached: the next start tries again (and reports it again).
    t.catch(() => templates.delete(count));
  }
  return t;
}

async function makeKeys(count: number): Promise<{ dir: string; keys: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-keys-'));
  madeDirs.add(dir);
  const child = spawnPinned(
    0,
    process.execPath,
    [join(ROOT, 'bench', 'peers', 'sluice-make-keys.ts'), '--count', String(count), '--data', dir],
    { cwd: ROOT, name: 'sluice keys create' },
  );
  const timer = setTimeout(() => void child.stop(), KEYS_MS);
  const status = await child.exited();
  clearTimeout(timer);
  const lines = child.output().trim().split('\n');
  if (status !== 0 || lines.at(-1) !== `done ${count}`) {
    await rm(dir, { recursive: true, force: true });
    const why = child.output().trim().split('\n').slice(-3).join(' ');
    throw new TargetUnavailable(`\`sluice keys create\` failed: ${why || `exit ${status}`}`);
  }
  return { dir, keys: lines.slice(0, count) };
}

/** Starts `sluice serve` pinned to core 0; TargetUnavailable when it cannot. */
export async function startSluice(upstreamUrl: string, opts: StartOptions) {
  const { dir: keysDir, keys } = await template(opts.keys);
  const runDir = await mkdtemp(join(tmpdir(), 'sluice-bench-run-'));
  madeDirs.add(runDir);
  const dataDir = join(runDir, 'data');
  await cp(keysDir, dataDir, { recursive: true });
  const config = join(runDir, 'policy.yaml');
  await writeFile(
    config,
    sluicePolicyYaml(opts.limit, { refuseUnknownKeys: opts.refuseUnknownKeys }),
  );
  const port = await freePort();
  const child = spawnPinned(
    0,
    process.execPath,
    [
      CLI,
      'serve',
      '--listen',
      `127.0.0.1:${port}`,
      '--upstream',
      upstreamUrl,
      '--config',
      config,
      '--data',
      dataDir,
    ],
    { cwd: ROOT, name: 'sluice serve', env: { ...process.env, NODE_ENV: 'production' } },
  );
  let ended = false;
  void child.exited().then(() => {
    ended = true;
  });
  const stop = async () => {
    await child.stop();
    await rm(runDir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const ready = await waitForHttp(`${url}/healthz`, {
    timeoutMs: READY_MS,
    want: 200,
    gaveUp: () => ended,
  });
  if (!ready) {
    const out = child.output().trim().split('\n').slice(-3).join(' ');
    await stop();
    throw new TargetUnavailable(
      `\`sluice serve\` did not answer 200 on /healthz within ${READY_MS / 1000} s${out ? `: ${out}` : ''}`,
    );
  }
  return { url, keys, stop, pid: child.pid };
}

/** Removes the key templates made during the run. */
export async function disposeSluice(): Promise<void> {
  const all = [...templates.values()];
  templates.clear();
  for (const t of all) {
    const made = await t.catch(() => undefined);
    if (made) {
      await rm(made.dir, { recursive: true, force: true });
      madeDirs.delete(made.dir);
    }
  }
}
