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
export function memoryCheckpoint(): CheckpointStore {
  const values = new Map<string, string>();
  return {
    async load(key) {
      const v = values.get(key);
      return v === undefined ? undefined : JSON.parse(v);
    },
    async save(key, value) {
      values.set(key, JSON.stringify(value));
    },
  };
}

/**
 * A checkpoint in one JSON file, written whole to a temporary file and renamed over the
 * old one, so a crash mid-write leaves the previous checkpoint, never half of one.
 * Uses `node:fs` (Node, Deno and Bun have it), loaded only when first used.
 */
export function fileCheckpoint(path = 'sluice-checkpoint.json'): CheckpointStore {
  let chain: Promise<unknown> = Promise.resolve();
  const readAll = async (): Promise<Record<string, unknown>> => {
    const fs = await import('node:fs/promises');
    let text: string;
    try {
      text = await fs.readFile(path, 'utf8');
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return {};
      throw e;
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
        return parsed as Record<string, unknown>;
      }
    } catch {
      // reported below
    }
    throw new Error(`checkpoint file ${path} is not a JSON object: remove it to start afresh`);
  };
  return {
    async load(key) {
      await chain;
      return (await readAll())[key];
    },
    save(key, value) {
      // One write at a time, each on the result of the one before.
      const next = chain.then(async () => {
        const fs = await import('node:fs/promises');
        const all = await readAll();
        all[key] = value;
        const tmp = `${path}.${Math.random().toString(36).slice(2)}.tmp`;
        await fs.writeFile(tmp, `${JSON.stringify(all, null, 2)}\n`);
        await fs.rename(tmp, path);
      });
      chain = next.catch(() => undefined);
      return next;
    },
  };
}
