/**
 * The client: one request function bound to a gateway's base URL and an API key, that
 * follows sluice's rules by construction (docs/answers.md, "How to behave"):
 *
 * - one request at a time unless `concurrency` is raised, and never wider than the
 *   plan's and the IP's concurrency published at `/.well-known/sluice`; narrower when
 *   answers come slowed (`Sluice-Delay-Ms`);
 * - paced from the `RateLimit` headers (see pacer.ts), so a long run meets no 429;
 * - on 429, every request of the client waits `Retry-After` (3 minutes when absent),
 *   then the client goes on at half the rate and recovers gradually;
 * - on 401, 403 and other non-retryable 4xx, it halts: pending and later requests reject
 *   with a `SluiceHaltedError` carrying the problem+json, and `onHalt` is called;
 * - network errors, 408 and 5xx are retried with capped exponential back-off and full
 *   jitter, idempotent methods only;
 * - routes the policy marks `non-public` are refused locally, before any request.
 */
import { fileCheckpoint } from './checkpoint.js';
import { readProblem, SluiceClientError, SluiceHaltedError, SluiceLocalRefusal, SluiceRefusal, } from './errors.js';
import { runExport } from './export.js';
import { Pacer } from './pacer.js';
import { isPublishedPolicy, matchRoute } from './published-policy.js';
import { retryAfterMs } from './rate-limit-headers.js';
import { runSync } from './sync.js';
import { realClock } from './time.js';
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
/** Refusals about one route's allowance: they say nothing about the client's pace. */
const ROUTE_REFUSALS = new Set(['bulk-export', 'batch-window']);
const NO_BODY = new Set([101, 204, 205, 304]);
/**
 * Creates a client bound to one gateway and key.
 *
 * @example
 * const api = createClient({ baseUrl: 'http://127.0.0.1:8080', key: process.env.KEY!, onHalt: alert });
 * const company = await api.json('/api/companies/cmp-0001');
 */
export function createClient(options) {
    if (typeof options.baseUrl !== 'string' || !/^https?:\/\//.test(options.baseUrl)) {
        throw new SluiceClientError('SLUICE_CLIENT_OPTIONS', `baseUrl must be an http:// or https:// URL, got ${JSON.stringify(options.baseUrl)}`);
    }
    if (typeof options.key !== 'string' || options.key.length === 0) {
        throw new SluiceClientError('SLUICE_CLIENT_OPTIONS', 'key must be the API key (sk_…)');
    }
    const base = options.baseUrl.replace(/\/+$/, '');
    const clock = options.clock ?? realClock;
    const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    const checkpoint = options.checkpoint ?? fileCheckpoint();
    const retries = options.retries ?? 5;
    const baseMs = options.backoff?.baseMs ?? 1_000;
    const capMs = options.backoff?.capMs ?? 60_000;
    const defaultRetryAfter = options.defaultRetryAfterMs ?? 180_000;
    const pass = new Set(options.passStatuses ?? [404, 409, 412, 422]);
    const random = options.random ?? Math.random;
    const wanted = Math.max(1, Math.floor(options.concurrency ?? 1));
    const pacer = new Pacer(1);
    const stats = { requests: 0, refused: 0, slowed: 0, retries: 0, waitedMs: 0 };
    let halted;
    let published;
    let policyRetryAt = 0;
    let active = 0;
    const waiting = [];
    async function fetchPolicy() {
        let body;
        try {
            const res = await fetchImpl(`${base}/.well-known/sluice`, {
                headers: { accept: 'application/json' },
            });
            body = res.ok ? await res.json() : undefined;
        }
        catch (cause) {
            throw new SluiceClientError('SLUICE_CLIENT_NO_POLICY', `${base}/.well-known/sluice could not be read: is ${base} a sluice gateway?`, { cause });
        }
        if (!isPublishedPolicy(body)) {
            throw new SluiceClientError('SLUICE_CLIENT_NO_POLICY', `${base}/.well-known/sluice is not a sluice policy (version 1): is ${base} a sluice gateway?`);
        }
        // Wider only within what the gateway publishes: the plan's and one IP's concurrency.
        const plan = body.plans[options.plan ?? body.defaultPlan] ?? body.plans[body.defaultPlan];
        pacer.maxWidth = Math.max(1, Math.min(wanted, plan?.concurrency ?? 1, body.ip.concurrency));
        pacer.width = Math.min(Math.max(pacer.width, pacer.maxWidth), pacer.maxWidth);
        return body;
    }
    function policy(refresh = false) {
        if (published === undefined || refresh) {
            const next = fetchPolicy();
            published = next;
            // A failed read is tried again next time, not cached.
            next.catch(() => {
                if (published === next)
                    published = undefined;
            });
        }
        return published;
    }
    function halt(error) {
        if (halted !== undefined)
            return;
        halted = error;
        for (const w of waiting.splice(0))
            w.reject(error);
        try {
            options.onHalt?.(error);
        }
        catch {
            // The owner's notifier failing must not hide the halt itself.
        }
    }
    function drain() {
        while (active < pacer.width && waiting.length > 0) {
            active++;
            waiting.shift().resolve();
        }
    }
    async function acquire() {
        if (halted !== undefined)
            throw halted;
        if (active < pacer.width && waiting.length === 0) {
            active++;
            return;
        }
        await new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    }
    function release() {
        active--;
        drain();
    }
    async function wait(ms) {
        stats.waitedMs += ms;
        await clock.sleep(ms);
    }
    /** Waits for the pace and any 429 pause, then claims the start. */
    async function gate(cost) {
        for (;;) {
            if (halted !== undefined)
                throw halted;
            const ms = pacer.waitMs(clock.now());
            if (ms <= 0)
                break;
            await wait(ms);
        }
        pacer.started(cost, clock.now());
    }
    function backoffMs(attempt) {
        // Full jitter (uniform in [0, cap)): retries of many clients spread out instead of aligning.
        return Math.floor(random() * Math.min(capMs, baseMs * 2 ** attempt));
    }
    async function request(path, init = {}) {
        if (halted !== undefined)
            throw halted;
        const method = (init.method ?? 'GET').toUpperCase();
        const target = path.startsWith('/') ? path : `/${path}`;
        let cost = 1;
        let known;
        if (clock.now() >= policyRetryAt) {
            try {
                known = await policy();
            }
            catch {
                // Without the published policy: one at a time, paced by the headers alone; asked
                // again in 5 minutes, not before every request.
                policyRetryAt = clock.now() + 300_000;
            }
        }
        if (known !== undefined) {
            const match = matchRoute(known, method, target);
            if (match?.route.class === 'non-public') {
                throw new SluiceLocalRefusal('SLUICE_CLIENT_NON_PUBLIC', `${method} ${target} is the route "${match.route.name}", which the gateway's policy marks non-public (for people in the app, not API keys): not sent`);
            }
            cost = match?.route.cost ?? 1;
        }
        const headers = new Headers(init.headers);
        headers.set('authorization', `Bearer ${options.key}`);
        const idempotent = IDEMPOTENT.has(method);
        const what = `${method} ${target}`;
        await acquire();
        try {
            for (let attempt = 0;; attempt++) {
                await gate(cost);
                stats.requests++;
                let res;
                try {
                    res = await fetchImpl(`${base}${target}`, { ...init, method, headers });
                }
                catch (cause) {
                    if (halted !== undefined)
                        throw halted;
                    if (!idempotent || attempt >= retries || init.signal?.aborted) {
                        throw new SluiceClientError('SLUICE_CLIENT_NETWORK', `${what} failed: ${String(cause)}`, {
                            cause,
                        });
                    }
                    stats.retries++;
                    await wait(backoffMs(attempt));
                    continue;
                }
                pacer.observe(res.headers, res.status);
                if (Number(res.headers.get('sluice-delay-ms') ?? 0) > 0)
                    stats.slowed++;
                const status = res.status;
                if (status === 429) {
                    stats.refused++;
                    const problem = await readProblem(res);
                    const after = retryAfterMs(res.headers, clock.now());
                    if (problem.rule !== undefined && ROUTE_REFUSALS.has(problem.rule)) {
                        throw new SluiceRefusal(status, problem, what, after);
                    }
                    pacer.refused(after ?? defaultRetryAfter, clock.now());
                    // A sluice refusal (it has a reference) never reached the API: safe to send again.
                    const again = idempotent || problem.reference !== undefined;
                    if (!again || attempt >= retries)
                        throw new SluiceRefusal(status, problem, what, after);
                    continue;
                }
                if (status >= 500 || status === 408) {
                    if (idempotent && attempt < retries) {
                        await res.body?.cancel();
                        stats.retries++;
                        const after = retryAfterMs(res.headers, clock.now()) ?? 0;
                        await wait(Math.max(after, backoffMs(attempt)));
                        continue;
                    }
                }
                else if (status >= 400 && !pass.has(status)) {
                    const error = new SluiceHaltedError(status, await readProblem(res), what);
                    halt(error);
                    throw error;
                }
                if (init.stream === true)
                    return res;
                const body = NO_BODY.has(status) ? null : await res.arrayBuffer();
                return new Response(body, { status, statusText: res.statusText, headers: res.headers });
            }
        }
        finally {
            release();
        }
    }
    async function json(path, init) {
        const res = await request(path, init);
        if (!res.ok) {
            const problem = await readProblem(res);
            throw new SluiceRefusal(res.status, problem, `${init?.method ?? 'GET'} ${path}`, undefined);
        }
        return (await res.json());
    }
    const client = {
        request,
        json,
        sync: (collection, o) => runSync(client, collection, o),
        exportOnce: (dataset) => runExport(client, dataset),
        policy,
        stats,
        get halted() {
            return halted;
        },
        clock,
        checkpoint,
    };
    return client;
}
