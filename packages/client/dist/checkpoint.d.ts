/**
 * Where the client keeps what must survive a restart: each collection's sync position
 * and the exports already made. Pluggable: anything with `load` and `save` will do.
 *
 * @example
 * const store = fileCheckpoint('./sluice-checkpoint.json');
 * await store.save('sync:jobs', { since: '2026-01-01T00:00:00.000Z' });
 * await store.load('sync:jobs'); // { since: '2026-01-01T00:00:00.000Z' }
 */
export interface CheckpointStore {
    /** The value saved under `key`, or undefined. */
    load(key: string): Promise<unknown>;
    /** Saves `value` (JSON-serialisable) under `key`, durably before it resolves. */
    save(key: string, value: unknown): Promise<void>;
}
/** A checkpoint held in memory only (for runtimes without a file system, and tests). */
export declare function memoryCheckpoint(): CheckpointStore;
/**
 * A checkpoint in one JSON file, written whole to a temporary file and renamed over the
 * old one, so a crash mid-write leaves the previous checkpoint, never half of one.
 * Uses `node:fs` (Node, Deno and Bun have it), loaded only when first used.
 */
export declare function fileCheckpoint(path?: string): CheckpointStore;
