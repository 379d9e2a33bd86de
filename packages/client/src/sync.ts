/**
 * Incremental sync of one list endpoint (`GET /api/<collection>?modifiedAfter=&cursor=&limit=`,
 * answering `{ data, nextCursor }`), as the brief asks of integrators: one full sync, then
 * only what changed since the last checkpoint.
 *
 * The checkpoint (key `sync:<collection>`) holds `since`, the latest `modifiedAt` seen by
 * the last complete sync, and, while a sync runs, the cursor of the next page: a sync
 * that stops half-way resumes from that page. A full sync (no `since` yet) is a full
 * listing, batch work: it waits for the gateway's off-hours window unless `force`.
 */
import type { SluiceClient } from './client.ts';
import { readProblem, SluiceClientError, SluiceLocalRefusal, SluiceRefusal } from './errors.ts';

export interface SyncOptions {
  /** Receives each page's records, in order, before the checkpoint moves past them. */
  readonly onRecords?: (records: unknown[]) => void | Promise<void>;
  /** Told after each page, and before a wait for the off-hours window. */
  readonly onProgress?: (progress: SyncProgress) => void;
  /** A full sync starts now, not in the next off-hours window. */
  readonly force?: boolean;
  /** Records per page (default 100). */
  readonly pageSize?: number;
  /** The list endpoint (default `/api/<collection>`). */
  readonly path?: string;
}

export interface SyncProgress {
  readonly collection: string;
  readonly full: boolean;
  /** `waiting-window`: a full sync waits until `until` for the off-hours window. */
  readonly phase: 'waiting-window' | 'paging' | 'done';
  readonly until?: string;
  readonly records: number;
  readonly pages: number;
  readonly requests: number;
  readonly waitedMs: number;
}

export interface SyncResult {
  readonly collection: string;
  /** Whether this was a full sync (no checkpoint before it). */
  readonly full: boolean;
  readonly records: number;
  readonly pages: number;
  /** The checkpoint now: the next sync fetches what changed after it. */
  readonly since: string | undefined;
}

interface SyncCheckpoint {
  since?: string;
  cursor?: string;
  /** Latest `modifiedAt` of the pages of the sync in progress. */
  max?: string;
}

/** Longest instant first: ISO strings of one format compare as text, others by value. */
function later(a: string | undefined, b: string): string {
  if (a === undefined) return b;
  const [x, y] = [Date.parse(a), Date.parse(b)];
  if (Number.isNaN(x) || Number.isNaN(y)) return a >= b ? a : b;
  return y > x ? b : a;
}

function readCheckpoint(value: unknown): SyncCheckpoint {
  if (typeof value !== 'object' || value === null) return {};
  const v = value as Record<string, unknown>;
  const str = (x: unknown) => (typeof x === 'string' ? x : undefined);
  return { since: str(v.since), cursor: str(v.cursor), max: str(v.max) };
}

/** Waits (on the client's clock) until the gateway says an off-hours window is open. */
async function waitForWindow(client: SluiceClient, report: (until: string) => void): Promise<void> {
  // A few rounds at most: each wait ends at the next window's start, then the policy is read again.
  for (let round = 0; round < 4; round++) {
    const policy = await client.policy(true);
    const { inWindow, next } = policy.offHours;
    if (inWindow || next === null) return;
    // Measured on the gateway's own clock (generatedAt), so a skewed client clock waits the right time.
    const ms = Date.parse(next.start) - Date.parse(policy.generatedAt);
    if (!(ms > 0)) return;
    report(next.start);
    (client.stats as { waitedMs: number }).waitedMs += ms;
    await client.clock.sleep(ms);
  }
}

/**
 * @example
 * const result = await client.sync('jobs', { onRecords: (jobs) => db.upsert(jobs) });
 * console.log(`${result.records} changed since the last sync`);
 */
export async function runSync(
  client: SluiceClient,
  collection: string,
  options: SyncOptions = {},
): Promise<SyncResult> {
  if (!/^[A-Za-z0-9._-]+$/.test(collection)) {
    throw new SluiceClientError(
      'SLUICE_CLIENT_OPTIONS',
      `collection must be a name like "jobs" (letters, digits, ".", "-", "_"), got ${JSON.stringify(collection)}`,
    );
  }
  const pageSize = options.pageSize ?? 100;
  if (!(Number.isInteger(pageSize) && pageSize >= 1)) {
    throw new SluiceClientError(
      'SLUICE_CLIENT_OPTIONS',
      `pageSize must be a whole number ≥ 1, got ${pageSize}`,
    );
  }
  const path = options.path ?? `/api/${collection}`;
  const key = `sync:${collection}`;
  const saved = readCheckpoint(await client.checkpoint.load(key));
  const full = saved.since === undefined;
  let records = 0;
  let pages = 0;
  const progress = (phase: SyncProgress['phase'], until?: string) =>
    options.onProgress?.({
      collection,
      full,
      phase,
      until,
      records,
      pages,
      requests: client.stats.requests,
      waitedMs: client.stats.waitedMs,
    });

  if (full && options.force !== true) {
    await waitForWindow(client, (until) => progress('waiting-window', until));
  }
  let cursor = saved.cursor;
  let max = saved.max ?? saved.since;
  for (;;) {
    const query = new URLSearchParams();
    if (saved.since !== undefined) query.set('modifiedAfter', saved.since);
    query.set('limit', String(pageSize));
    if (cursor !== undefined) query.set('cursor', cursor);
    const res = await client.request(`${path}?${query}`);
    if (!res.ok) {
      throw new SluiceRefusal(res.status, await readProblem(res), `GET ${path}`, undefined);
    }
    const page = (await res.json()) as { data?: unknown; nextCursor?: unknown };
    if (!Array.isArray(page.data)) {
      throw new SluiceLocalRefusal(
        'SLUICE_CLIENT_NOT_A_LIST',
        `GET ${path} did not answer a page ({ data: [...], nextCursor }): is ${collection} a list endpoint?`,
      );
    }
    await options.onRecords?.(page.data);
    for (const item of page.data as { modifiedAt?: unknown }[]) {
      if (typeof item?.modifiedAt === 'string') max = later(max, item.modifiedAt);
    }
    records += page.data.length;
    pages++;
    const nextCursor = typeof page.nextCursor === 'string' ? page.nextCursor : undefined;
    if (nextCursor === undefined) {
      await client.checkpoint.save(key, { since: max });
      progress('done');
      return { collection, full, records, pages, since: max };
    }
    cursor = nextCursor;
    await client.checkpoint.save(key, { since: saved.since, cursor, max });
    progress('paging');
  }
}
