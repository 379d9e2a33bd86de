/**
 * The demo API's data: companies, devices, jobs and logs, generated from a seed so every
 * run (and every test) sees the same ids and timestamps. Nothing here is random at run
 * time; the timestamps are spread over the year before a fixed end date, so they do not
 * drift with the wall clock either.
 */

/** The collections the demo API serves, in the order exports and searches visit them. */
export const COLLECTIONS = ['companies', 'devices', 'jobs', 'logs'] as const;
export type CollectionName = (typeof COLLECTIONS)[number];

/** Every generated timestamp is before this instant (and at most a year before it). */
export const DEMO_DATA_END = '2026-01-01T00:00:00.000Z';

/** What every item has; `createdAt`/`modifiedAt` are ISO strings with milliseconds. */
export interface DemoItem {
  readonly id: string;
  readonly createdAt: string;
  readonly modifiedAt: string;
}

export interface Company extends DemoItem {
  readonly name: string;
  readonly domain: string;
  readonly country: string;
  readonly plan: 'starter' | 'standard' | 'enterprise';
  readonly seats: number;
}

export interface Device extends DemoItem {
  readonly companyId: string;
  readonly serial: string;
  readonly model: string;
  readonly platform: 'android' | 'ios' | 'windows' | 'linux';
  readonly status: 'active' | 'retired' | 'lost';
}

export interface Job extends DemoItem {
  readonly companyId: string;
  readonly deviceId: string;
  readonly kind: 'inventory-scan' | 'firmware-update' | 'backup' | 'compliance-check';
  readonly status: 'queued' | 'running' | 'succeeded' | 'failed';
  readonly durationSec: number | null;
}

export interface LogEntry extends DemoItem {
  readonly companyId: string;
  readonly deviceId: string;
  readonly jobId: string;
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly message: string;
}

export interface DemoData {
  readonly companies: Company[];
  readonly devices: Device[];
  readonly jobs: Job[];
  readonly logs: LogEntry[];
}

export interface DemoDataOptions {
  seed?: number;
  /** ISO instant the data ends at (default `DEMO_DATA_END`). */
  end?: string;
  sizes?: Partial<Record<CollectionName, number>>;
}

const DEFAULT_SIZES: Record<CollectionName, number> = {
  companies: 50,
  devices: 500,
  jobs: 2000,
  logs: 5000,
};

const YEAR_MS = 365 * 24 * 3600 * 1000;

/** mulberry32: a tiny, well-mixed 32-bit generator; enough for demo data, not for secrets. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = [
  'North',
  'Blue',
  'Iron',
  'Cedar',
  'Harbor',
  'Summit',
  'Silver',
  'Prairie',
  'Granite',
];
const SECOND = ['wind', 'ridge', 'field', 'stone', 'brook', 'point', 'gate', 'vale', 'crest'];
const TRADE = ['Logistics', 'Health', 'Retail', 'Foods', 'Energy', 'Freight', 'Clinics', 'Labs'];
const COUNTRIES = ['US', 'CA', 'GB', 'DE', 'FR', 'NL', 'SE', 'AU', 'JP', 'BR'];
const MODELS = ['Handheld H200', 'Rugged Tab R8', 'Scanner S5', 'Kiosk K21', 'Laptop L14'];
const PLATFORMS = ['android', 'ios', 'windows', 'linux'] as const;
const JOB_KINDS = ['inventory-scan', 'firmware-update', 'backup', 'compliance-check'] as const;
const MESSAGES = [
  'job started',
  'battery below 20%',
  'connected to Wi-Fi',
  'firmware package verified',
  'backup uploaded',
  'policy applied',
  'disk usage above 90%',
  'retrying after network timeout',
] as const;

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/**
 * Generates the demo data set. Each collection comes back sorted by id; children point
 * at existing parents and are created after them; `modifiedAt >= createdAt`. Log entries
 * come in pairs sharing one timestamp, so paging has ties to get right.
 *
 * @example
 * const { companies } = generateDemoData();
 * companies[0].id; // 'cmp-0001'
 */
export function generateDemoData(options: DemoDataOptions = {}): DemoData {
  const random = prng(options.seed ?? 20_260_101);
  const endMs = Date.parse(options.end ?? DEMO_DATA_END);
  const sizes = { ...DEFAULT_SIZES, ...options.sizes };
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  // Whole seconds, so the ISO strings look like what a real API returns.
  const second = (ms: number) => Math.floor(ms / 1000) * 1000;
  const iso = (ms: number) => new Date(ms).toISOString();
  const after = (fromMs: number) => second(fromMs + random() * (endMs - fromMs));
  // A third of items were never modified after creation.
  const modified = (createdMs: number) => (random() < 0.33 ? createdMs : after(createdMs));

  const companies: Company[] = [];
  const companyMs: number[] = [];
  for (let i = 0; i < sizes.companies; i++) {
    const created = second(endMs - YEAR_MS + random() * YEAR_MS * 0.5);
    const name = `${pick(FIRST)}${pick(SECOND)} ${pick(TRADE)}`;
    companyMs.push(created);
    companies.push({
      id: `cmp-${pad(i + 1, 4)}`,
      name,
      domain: `${name.toLowerCase().replace(/ /g, '-')}.example`,
      country: pick(COUNTRIES),
      plan: pick(['starter', 'standard', 'standard', 'enterprise'] as const),
      seats: 5 + Math.floor(random() * 400),
      createdAt: iso(created),
      modifiedAt: iso(modified(created)),
    });
  }

  const devices: Device[] = [];
  const deviceMs: number[] = [];
  for (let i = 0; i < sizes.devices; i++) {
    const owner = Math.floor(random() * companies.length);
    const created = after(companyMs[owner]);
    deviceMs.push(created);
    devices.push({
      id: `dev-${pad(i + 1, 5)}`,
      companyId: companies[owner].id,
      serial: `SN-${Math.floor(random() * 0xffffff)
        .toString(16)
        .toUpperCase()
        .padStart(6, '0')}`,
      model: pick(MODELS),
      platform: pick(PLATFORMS),
      status: pick(['active', 'active', 'active', 'retired', 'lost'] as const),
      createdAt: iso(created),
      modifiedAt: iso(modified(created)),
    });
  }

  const jobs: Job[] = [];
  const jobMs: number[] = [];
  for (let i = 0; i < sizes.jobs; i++) {
    const device = Math.floor(random() * devices.length);
    const created = after(deviceMs[device]);
    const status = pick(['succeeded', 'succeeded', 'succeeded', 'failed', 'running'] as const);
    jobMs.push(created);
    jobs.push({
      id: `job-${pad(i + 1, 6)}`,
      companyId: devices[device].companyId,
      deviceId: devices[device].id,
      kind: pick(JOB_KINDS),
      status,
      durationSec: status === 'running' ? null : 1 + Math.floor(random() * 900),
      createdAt: iso(created),
      modifiedAt: iso(modified(created)),
    });
  }

  const logs: LogEntry[] = [];
  let shared = 0;
  let job = 0;
  for (let i = 0; i < sizes.logs; i++) {
    // Logs are written, never changed; each pair shares a job and a timestamp.
    if (i % 2 === 0) {
      job = Math.floor(random() * jobs.length);
      shared = after(jobMs[job]);
    }
    const level = pick(['debug', 'info', 'info', 'info', 'warn', 'error'] as const);
    logs.push({
      id: `log-${pad(i + 1, 7)}`,
      companyId: jobs[job].companyId,
      deviceId: jobs[job].deviceId,
      jobId: jobs[job].id,
      level,
      message: pick(MESSAGES),
      createdAt: iso(shared),
      modifiedAt: iso(shared),
    });
  }

  return { companies, devices, jobs, logs };
}
