import { SluiceLocalRefusal, SluiceRefusal } from './errors.js';
function readDates(value) {
    const at = value?.at;
    return Array.isArray(at) ? at.filter((t) => typeof t === 'number') : [];
}
/**
 * @example
 * const res = await client.exportOnce('devices'); // a streamed NDJSON answer
 * for await (const chunk of res.body!) process.stdout.write(chunk);
 */
export async function runExport(client, dataset) {
    const policy = await client.policy();
    const bulk = policy.routes.filter((r) => r.class === 'bulk');
    const route = bulk.find((r) => r.dataset === dataset) ?? bulk.find((r) => r.dataset?.startsWith(':'));
    if (route === undefined || /\*/.test(route.path)) {
        throw new SluiceLocalRefusal('SLUICE_CLIENT_NO_EXPORT', `the gateway's policy has no export route for the dataset "${dataset}"`);
    }
    const param = route.dataset?.startsWith(':') ? route.dataset : undefined;
    const path = route.path
        .split('/')
        .map((s) => (param !== undefined && s === param ? encodeURIComponent(dataset) : s))
        .join('/');
    if (/\/:/.test(path)) {
        throw new SluiceLocalRefusal('SLUICE_CLIENT_NO_EXPORT', `the export route "${route.name}" (${route.path}) has a segment the client cannot fill`);
    }
    const key = `export:${dataset}`;
    const periodMs = policy.bulk.allow.periodSec * 1000;
    const now = client.clock.now();
    const saved = (await client.checkpoint.load(key));
    const recent = readDates(saved).filter((t) => t > now - periodMs);
    const told = typeof saved?.nextAllowed === 'number' ? saved.nextAllowed : 0;
    let nextAllowed = told;
    if (recent.length >= policy.bulk.allow.limit) {
        nextAllowed = Math.max(nextAllowed, Math.min(...recent) + periodMs);
    }
    if (nextAllowed > now) {
        const when = new Date(nextAllowed);
        throw new SluiceLocalRefusal('SLUICE_CLIENT_EXPORT_USED', `the export allowance of "${dataset}" (${policy.bulk.allow.text}) is used up: the next export is allowed from ${when.toISOString()}; not sent`, when);
    }
    try {
        const res = await client.request(path, { stream: true });
        if (res.ok)
            await client.checkpoint.save(key, { at: [...recent, now] });
        return res;
    }
    catch (e) {
        // Another process made the export: remember when the gateway allows the next one.
        if (e instanceof SluiceRefusal &&
            e.problem.rule === 'bulk-export' &&
            e.retryAfterMs !== undefined) {
            await client.checkpoint.save(key, { at: recent, nextAllowed: now + e.retryAfterMs });
        }
        throw e;
    }
}
