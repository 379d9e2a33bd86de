/**
 * sluice as a benchmark target: the real CLI (`sluice keys create`, `sluice serve`)
 * with a generated policy and a fresh data directory per start, memory store, or a
 * Redis store (`redisUrl`: the policy's `store: { redis: URL }`, everything else the
 * same).
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
import { runBounded, spawnPinned } from '../lib/procs.ts';
import {
  FLOOD_IP,
  type Limit,
  type RefusalKind,
  type StartOptions,
  TargetUnavailable,
} from '../lib/target-types.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'src', 'cli', 'main.ts');
const READY_MS = 10_000;
const KEYS_MS = 180_000;

const ms = (n: number) => `${n / 1000}s`;

/**
 * The policy file for `limit`. The client IP limits (rates and requests held at once) sit
 * far above any load here (all load comes from 127.0.0.1), so only the account limit under
 * test can answer 429.
 * With `refuseUnknownKeys`, a key never created is answered 401 `key-unknown` (not let
 * through as a keyless caller), and the afterAuthFailure safeguard only reports (dry
 * run), so the flood stays a flood of 401s instead of becoming 403 `ip-blocked`.
 *
 * For a refusal kind the safeguard that would turn the flood into another kind only
 * reports: `rate` keeps `ignoring429` in dry run (the flood stays 429s instead of a
 * suspension), `suspended` keeps `afterAuthFailure` in dry run (the suspended key's
 * flood stays 403 `key-suspended` instead of an IP block); `blocked-ip` runs with the
 * default safeguards; `unknown` is `refuseUnknownKeys`.
 */
export function sluicePolicyYaml(
  limit: Limit,
  options: { refuseUnknownKeys?: boolean; refusal?: RefusalKind; redisUrl?: string } = {},
): string {
  const rate = `${limit.perMinute}/min`;
  const unknown = options.refuseUnknownKeys || options.refusal === 'unknown';
  return stringify({
    // The row measures decisions made in Redis. Its redis-server shares core 0 with the
    // upstream and the gateway, and on a busy machine a healthy answer can take longer
    // than the production bound (50ms; a smoke run on a loaded machine saw 2,521 steps
    // fall back, decided by the faster local limiter): so 1s here. A step that still
    // falls back is counted, and the run reports it.
    ...(options.redisUrl
      ? { store: { redis: options.redisUrl, prefix: 'bench:', timeout: '1s' } }
      : {}),
    ...(unknown
      ? {
          server: { unauthenticated: 'refuse' },
          safeguards: { afterAuthFailure: { dryRun: true } },
        }
      : {}),
    ...(options.refusal === 'rate' ? { safeguards: { ignoring429: { dryRun: true } } } : {}),
    ...(options.refusal === 'suspended'
      ? { safeguards: { afterAuthFailure: { dryRun: true } } }
      : {}),
    // At most 10^9 per period: sluice refuses larger counts (RateLimit headers carry them).
    // All of wrk's connections come from 127.0.0.1: the per-IP cap on requests held at
    // once (ip.concurrency, 32 by default) would answer 429 to a third of them.
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

/**
 * Starts `sluice serve` pinned to core 0; TargetUnavailable when it cannot. `runtime` is
 * the binary that runs it: the pinned Node running the harness, or Bun (the `sluice-bun`
 * row); keys are made and IPs blocked by the CLI on Node either way.
 */
export async function startSluice(
  upstreamUrl: string,
  opts: StartOptions,
  runtime = process.execPath,
) {
  const { dir: keysDir, keys } = await template(opts.keys);
  const runDir = await mkdtemp(join(tmpdir(), 'sluice-bench-run-'));
  madeDirs.add(runDir);
  const dataDir = join(runDir, 'data');
  await cp(keysDir, dataDir, { recursive: true });
  const config = join(runDir, 'policy.yaml');
  await writeFile(
    config,
    sluicePolicyYaml(opts.limit, {
      refuseUnknownKeys: opts.refuseUnknownKeys,
      refusal: opts.refusal?.kind,
      redisUrl: opts.redisUrl,
    }),
  );
  if (opts.redisUrl !== undefined) {
    // On Redis the records live there too: the keys made once (in SQLite) are imported
    // into it, as an operator moving to Redis would (idempotent across rounds).
    const csv = join(runDir, 'keys.csv');
    await writeFile(csv, `account,key\n${keys.map((k, i) => `acct-${i + 1},${k}`).join('\n')}\n`);
    const args = [CLI, 'keys', 'import', csv, '--config', config, '--data', dataDir];
    const r = runBounded(process.execPath, args, { cwd: ROOT, timeoutMs: 60_000 });
    if (r.status !== 0) {
      throw new TargetUnavailable(`\`sluice keys import\` failed: ${r.stderr || r.stdout}`);
    }
  }
  const port = await freePort();
  // On Redis, the admin listener's /metrics says whether any decision fell back.
  const adminPort = opts.redisUrl === undefined ? undefined : await freePort();
  const child = spawnPinned(
    0,
    runtime,
    [
      ...(opts.nodeArgs ?? []),
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
      ...(opts.threads === undefined ? [] : ['--threads', String(opts.threads)]),
      ...(adminPort === undefined ? [] : ['--admin', `127.0.0.1:${adminPort}`]),
    ],
    {
      cwd: ROOT,
      name: 'sluice serve',
      env: { ...process.env, NODE_ENV: 'production', SLUICE_ADMIN_TOKEN: ADMIN_TOKEN },
    },
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
  const kind = opts.refusal?.kind;
  const applyRefusal = async () => {
    if (kind === 'blocked-ip') {
      // An operator's block, through the CLI, as support would make it.
      const args = [CLI, 'ips', 'block', FLOOD_IP, '--reason', 'bench flood'];
      const r = runBounded(process.execPath, [...args, '--config', config, '--data', dataDir], {
        cwd: ROOT,
        timeoutMs: 30_000,
      });
      if (r.status !== 0) throw new Error(`sluice ips block failed: ${r.stderr || r.stdout}`);
    }
    // suspended: the flooding key keeps going after its 429s until the ignoring429
    // safeguard suspends it (403), as it would in production; blocked-ip: until the
    // gateway has read the block (within a second).
    if (kind === 'suspended' || kind === 'blocked-ip') await until403(url, keys[0]);
  };
  const problems = async () => {
    const fallbacks = await limitStoreFallbacks(`http://127.0.0.1:${adminPort}`);
    if (Number.isNaN(fallbacks)) return 'could not read /metrics to count Redis fallbacks';
    return fallbacks > 0
      ? `${fallbacks.toLocaleString('en-US')} limit steps fell back to the local insurance limiter (Redis failing or slower than store.timeout)`
      : undefined;
  };
  return {
    url,
    keys,
    stop,
    pid: child.pid,
    ...(kind ? { applyRefusal } : {}),
    ...(adminPort === undefined ? {} : { problems }),
  };
}

/** A token for the bench's own admin listener (loopback, for the run's length). */
const ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef';

/** `sluice_limit_store_fallbacks_total` from the admin listener's /metrics (NaN if unread). */
async function limitStoreFallbacks(adminUrl: string): Promise<number> {
  try {
    const res = await fetch(`${adminUrl}/metrics`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      signal: AbortSignal.timeout(5000),
    });
    const m = (await res.text()).match(/^sluice_limit_store_fallbacks_total (\S+)$/m);
    return m ? Number(m[1]) : 0;
  } catch {
    return Number.NaN;
  }
}

/** Sends requests with `key` one after another until one is answered 403 (at most 20 s). */
async function until403(url: string, key: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  let last = 0;
  while (Date.now() < deadline) {
    const res = await fetch(`${url}/api/items/1`, {
      headers: { 'x-api-key': key },
      signal: AbortSignal.timeout(5000),
    });
    await res.arrayBuffer();
    last = res.status;
    if (last === 403) return;
  }
  throw new Error(`the flooding key was not refused 403 within 20 s (last answer ${last})`);
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
