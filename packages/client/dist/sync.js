import { readProblem, SluiceClientError, SluiceLocalRefusal, SluiceRefusal } from './errors.js';
/** Longest instant first: ISO strings of one format compare as text, others by value. */
function later(a, b) {
    if (a === undefined)
        return b;
    const [x, y] = [Date.parse(a), Date.parse(b)];
    if (Number.isNaN(x) || Number.isNaN(y))
        return a >= b ? a : b;
    return y > x ? b : a;
}
function readCheckpoint(value) {
    if (typeof value !== 'object' || value === null)
        return {};
    const v = value;
    const str = (x) => (typeof x === 'string' ? x : undefined);
    return { since: str(v.since), cursor: str(v.cursor), max: str(v.max) };
}
/** Waits (on the client's clock) until the gateway says an off-hours window is open. */
async function waitForWindow(client, report) {
    // A few rounds at most: each wait ends at the next window's start, then the policy is read again.
    for (let round = 0; round < 4; round++) {
        const policy = await client.policy(true);
        const { inWindow, next } = policy.offHours;
        if (inWindow || next === null)
            return;
        // Measured on the gateway's own clock (generatedAt), so a skewed client clock waits the right time.
        const ms = Date.parse(next.start) - Date.parse(policy.generatedAt);
        if (!(ms > 0))
            return;
        report(next.start);
        client.stats.waitedMs += ms;
        await client.clock.sleep(ms);
    }
}
/**
 * @example
 * const result = await client.sync('jobs', { onRecords: (jobs) => db.upsert(jobs) });
 * console.log(`${result.records} changed since the last sync`);
 */
export async function runSync(client, collection, options = {}) {
    if (!/^[A-Za-z0-9._-]+$/.test(collection)) {
        throw new SluiceClientError('SLUICE_CLIENT_OPTIONS', `collection must be a name like "jobs" (letters, digits, ".", "-", "_"), got ${JSON.stringify(collection)}`);
    }
    const pageSize = options.pageSize ?? 100;
    if (!(Number.isInteger(pageSize) && pageSize >= 1)) {
        throw new SluiceClientError('SLUICE_CLIENT_OPTIONS', `pageSize must be a whole number ≥ 1, got ${pageSize}`);
    }
    const path = options.path ?? `/api/${collection}`;
    const key = `sync:${collection}`;
    const saved = readCheckpoint(await client.checkpoint.load(key));
    const full = saved.since === undefined;
    let records = 0;
    let pages = 0;
    const progress = (phase, until) => options.onProgress?.({
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
        if (saved.since !== undefined)
            query.set('modifiedAfter', saved.since);
        query.set('limit', String(pageSize));
        if (cursor !== undefined)
            query.set('cursor', cursor);
        const res = await client.request(`${path}?${query}`);
        if (!res.ok) {
            throw new SluiceRefusal(res.status, await readProblem(res), `GET ${path}`, undefined);
        }
        const page = (await res.json());
        if (!Array.isArray(page.data)) {
            throw new SluiceLocalRefusal('SLUICE_CLIENT_NOT_A_LIST', `GET ${path} did not answer a page ({ data: [...], nextCursor }): is ${collection} a list endpoint?`);
        }
        await options.onRecords?.(page.data);
        for (const item of page.data) {
            if (typeof item?.modifiedAt === 'string')
                max = later(max, item.modifiedAt);
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
