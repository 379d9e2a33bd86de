/** A checkpoint held in memory only (for runtimes without a file system, and tests). */
export function memoryCheckpoint() {
    const values = new Map();
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
export function fileCheckpoint(path = 'sluice-checkpoint.json') {
    let chain = Promise.resolve();
    const readAll = async () => {
        const fs = await import('node:fs/promises');
        let text;
        try {
            text = await fs.readFile(path, 'utf8');
        }
        catch (e) {
            if (e.code === 'ENOENT')
                return {};
            throw e;
        }
        try {
            const parsed = JSON.parse(text);
            if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
                return parsed;
            }
        }
        catch {
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
