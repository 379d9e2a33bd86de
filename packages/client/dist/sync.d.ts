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
/**
 * @example
 * const result = await client.sync('jobs', { onRecords: (jobs) => db.upsert(jobs) });
 * console.log(`${result.records} changed since the last sync`);
 */
export declare function runSync(client: SluiceClient, collection: string, options?: SyncOptions): Promise<SyncResult>;
