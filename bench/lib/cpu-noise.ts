/**
 * How much CPU *other* processes (and the hypervisor, as steal time) took while a run
 * was measured: the machine is shared, and a test suite running next to the benchmark
 * takes cores from it. Reads /proc/PID/stat of every process outside the benchmark's
 * process groups, and the steal time in /proc/stat, so it needs Linux; elsewhere it
 * reports nothing.
 *
 * @example
 *   const noise = await measureNoise(10_000, ourGroups); // { foreignCores: 0.03, stealCores: 0 }
 */
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** Clock ticks per second of /proc figures (USER_HZ); 100 on every Linux we run on. */
const HZ = 100;

export interface Noise {
  /** Cores busy with processes that are not the benchmark's, on average. */
  readonly foreignCores: number;
  /** Cores taken by the hypervisor (steal time), on average. */
  readonly stealCores: number;
}

interface Sample {
  readonly at: number;
  /** /proc/stat, all cores: user + nice + system + irq + softirq, and steal. */
  readonly busy: number;
  readonly steal: number;
  /** CPU ticks used so far by the benchmark's own processes. */
  readonly ours: number;
  /** CPU ticks used so far by each process that is not the benchmark's. */
  readonly others: ReadonlyMap<number, number>;
}

const KTHREAD = 0x00200000;

async function systemTicks(): Promise<{ busy: number; steal: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0];
  const [user, nice, system, , , irq, softirq, steal] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return { busy: user + nice + system + irq + softirq, steal };
}

/**
 * The benchmark's own ticks (processes in `groups`, and this one), and utime + stime +
 * cutime + cstime of every other user process. Counting children's times catches short
 * processes (a test file run by a test runner) that start and end between two samples:
 * their time lands in the parent's cutime when they are reaped. Kernel threads are left
 * out, since they mostly carry the benchmark's own loopback traffic.
 */
async function processTicks(groups: ReadonlySet<number>) {
  const others = new Map<number, number>();
  let ours = 0;
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    let stat: string;
    try {
      stat = await readFile(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // Gone meanwhile.
    }
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if ((Number(f[6]) & KTHREAD) !== 0) continue;
    const own = Number(f[11]) + Number(f[12]);
    if (pid === process.pid || groups.has(Number(f[2]))) ours += own;
    else others.set(pid, own + Number(f[13]) + Number(f[14]));
  }
  return { ours, others };
}

async function sample(groups: () => ReadonlySet<number>): Promise<Sample> {
  const sys = await systemTicks();
  return { at: performance.now(), ...sys, ...(await processTicks(groups())) };
}

/** Others' share of the CPU between now and `windowMs` from now. */
export async function sampleNoise(
  windowMs: number,
  groups: () => ReadonlySet<number>,
): Promise<Noise | undefined> {
  if (process.platform !== 'linux') return undefined;
  try {
    const a = await sample(groups);
    await sleep(windowMs);
    const b = await sample(groups);
    const seconds = (b.at - a.at) / 1000;
    const cores = (ticks: number) => Math.max(0, ticks / HZ / seconds);
    // Two estimates, each too high in its own way; the smaller is the better one.
    // Per process: a parent that reaps a long-lived child gains its whole lifetime.
    let perProcess = 0;
    for (const [pid, ticks] of b.others) perProcess += ticks - (a.others.get(pid) ?? 0);
    // All cores minus ours: softirq work of our own loopback traffic counts as others'.
    const wholeMachine = b.busy - a.busy - (b.ours - a.ours);
    return {
      foreignCores: cores(Math.min(perProcess, wholeMachine)),
      stealCores: cores(b.steal - a.steal),
    };
  } catch {
    return undefined;
  }
}

/**
 * Samples shortly after the start and shortly before the end of a run of `durationMs`
 * (while every process of the run is still alive), and returns the others' share.
 * `groups` gives the benchmark's live process groups at each sample.
 */
export async function measureNoise(
  durationMs: number,
  groups: () => ReadonlySet<number>,
): Promise<Noise | undefined> {
  if (durationMs < 1500) return undefined;
  await sleep(300);
  return sampleNoise(durationMs - 900, groups);
}

/** Total cores taken from the benchmark: other processes plus steal time. */
export function noiseCores(n: Noise | undefined): number {
  return n === undefined ? 0 : n.foreignCores + n.stealCores;
}

/**
 * Waits (up to `maxWaitMs`) until other processes use at most `maxCores` over one
 * second; returns the last reading.
 */
export async function waitForQuiet(
  maxCores: number,
  maxWaitMs: number,
  groups: () => ReadonlySet<number>,
): Promise<Noise | undefined> {
  const deadline = performance.now() + maxWaitMs;
  for (;;) {
    const n = await sampleNoise(1000, groups);
    if (n === undefined || noiseCores(n) <= maxCores || performance.now() >= deadline) return n;
  }
}
