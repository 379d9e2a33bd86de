/**
 * A bounded refusal flood against the real `sluice serve` (SQLite data directory, as in
 * production), to see what writing new incidents costs: refusals answered per second and
 * the gateway's CPU time per refusal (from /proc), over a few seconds of load on loopback.
 *
 * - `--mode one-ip`: one IP past its block limit over keep-alive connections: 429s that
 *   all join one incident (the common flood; no journal write after the first);
 * - `--mode new-ips`: every request from a new loopback address without a key, refused
 *   (401, `unauthenticated: refuse`): every refusal starts a new incident (the worst case
 *   for the journal, one write per refusal);
 * - `--mode unknown-keys`: every request carries a new made-up key (well formed, never
 *   created) over keep-alive connections from one IP, refused 401 `key-unknown`
 *   (`unauthenticated: refuse`; the afterAuthFailure safeguard in dry run, so the IP is
 *   not blocked): what an unknown key costs, database lookups included.
 *
 * @example
 *   node bench/refusal-flood.ts --mode new-ips --seconds 5 --connections 16
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startDemoUpstream } from '../src/demo/demo-upstream.ts';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'new-ips' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
  },
});
const mode = values.mode;
const seconds = Math.min(30, Math.max(1, Number(values.seconds)));
const connections = Math.min(64, Math.max(1, Number(values.connections)));
if (mode !== 'one-ip' && mode !== 'new-ips' && mode !== 'unknown-keys') {
  throw new Error('--mode is one-ip, new-ips or unknown-keys');
}

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.ts');
const dir = mkdtempSync(join(tmpdir(), 'sluice-flood-'));
const upstream = await startDemoUpstream({});
const policy = join(dir, 'policy.yaml');
writeFileSync(
  policy,
  mode === 'one-ip'
    ? // Dry run: the safeguard would block the flooding IP, and the flood would be 403s.
      'ip:\n  warn: 1/min\n  block: 2/min\nsafeguards:\n  ignoring429:\n    dryRun: true\n'
    : mode === 'unknown-keys'
      ? 'server:\n  unauthenticated: refuse\nsafeguards:\n  afterAuthFailure:\n    dryRun: true\n'
      : 'server:\n  unauthenticated: refuse\n',
);
const child = spawn(
  process.execPath,
  [
    CLI,
    'serve',
    '--listen',
    '127.0.0.1:0',
    '--config',
    policy,
    '--data',
    dir,
    '--upstream',
    upstream.url,
    '--log-level',
    'warn',
  ],
  // The banner saying where it listens is on stderr (stdout carries JSON logs only).
  { stdio: ['ignore', 'inherit', 'pipe'] },
);
child.stderr.pipe(process.stderr);
const url = await new Promise<URL>((resolve, reject) => {
  let out = '';
  const timer = setTimeout(() => reject(new Error(`gateway did not start: ${out}`)), 15_000);
  child.stderr.on('data', (d) => {
    out += d;
    const m = /listening on (http:\/\/\S+)/.exec(out);
    if (m) {
      clearTimeout(timer);
      resolve(new URL(m[1]));
    }
  });
});

/** User + system CPU of the gateway process so far, in ms (Linux clock ticks of 10 ms). */
function cpuMs(): number {
  const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const keepAlive = new Agent({
  keepAlive: true,
  maxSockets: connections,
  localAddress: '127.0.0.2',
});
let next = 0;
function once(): Promise<number> {
  return new Promise((resolve, reject) => {
    const x = next++ + 3;
    const options =
      mode === 'new-ips'
        ? { agent: false, localAddress: `127.${(x >> 16) & 255}.${(x >> 8) & 255}.${x & 255}` }
        : mode === 'unknown-keys'
          ? // sk_<10-character id>_<32 characters>: the shape of a real key, never created.
            {
              agent: keepAlive,
              headers: { 'x-api-key': `sk_FAKEKEY000_${String(x).padStart(32, '0')}` },
            }
          : { agent: keepAlive };
    const req = request(
      { host: url.hostname, port: url.port, path: '/api/companies/1', ...options },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.setTimeout(5_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

// One second unmeasured (JIT, connections), then the measured seconds.
const statuses = new Map<number, number>();
let measuring = false;
async function worker(until: number) {
  while (performance.now() < until) {
    const status = await once();
    if (measuring) statuses.set(status, (statuses.get(status) ?? 0) + 1);
  }
}
await Promise.all(Array.from({ length: connections }, () => worker(performance.now() + 1_000)));
measuring = true;
const cpuBefore = cpuMs();
const started = performance.now();
await Promise.all(
  Array.from({ length: connections }, () => worker(performance.now() + seconds * 1_000)),
);
const elapsedSec = (performance.now() - started) / 1000;
const cpu = cpuMs() - cpuBefore;

const refused = [...statuses].filter(([s]) => s >= 400).reduce((n, [, c]) => n + c, 0);
console.log(
  JSON.stringify({
    mode,
    seconds: Number(elapsedSec.toFixed(2)),
    connections,
    statuses: Object.fromEntries(statuses),
    refusedPerSec: Math.round(refused / elapsedSec),
    gatewayCpuUsPerRefusal: Number(((cpu * 1000) / Math.max(1, refused)).toFixed(1)),
  }),
);
keepAlive.destroy();
child.kill('SIGTERM');
await new Promise((resolve) => child.once('exit', resolve));
await upstream.close();
rmSync(dir, { recursive: true, force: true });
