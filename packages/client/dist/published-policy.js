/**
 * The gateway's published policy (`GET /.well-known/sluice`): the parts the client acts
 * on, and the route matching that tells which route (class, cost) a request falls in.
 */
function segmentMatches(pattern, segment, fold) {
    if (pattern === '*')
        return { ok: true };
    const named = /^:([A-Za-z0-9_]+)(?:\((.*)\))?$/.exec(pattern);
    if (named !== null) {
        const [, name, choices] = named;
        if (choices === undefined)
            return { ok: segment.length > 0, name };
        return { ok: choices.split('|').some((c) => fold(c) === fold(segment)), name };
    }
    return { ok: fold(pattern) === fold(segment) };
}
/**
 * The first route of `policy` that `method` + `url` (a path with its query) falls in.
 *
 * @example
 * matchRoute(policy, 'POST', '/api/reports/monthly')?.route.class; // 'non-public'
 */
export function matchRoute(policy, method, url) {
    const fold = policy.paths?.caseSensitive === true ? (s) => s : (s) => s.toLowerCase();
    const parsed = new URL(url, 'http://sluice.invalid');
    let path;
    try {
        path = decodeURIComponent(parsed.pathname);
    }
    catch {
        path = parsed.pathname;
    }
    const segments = path.split('/').filter((s) => s.length > 0);
    const upper = method.toUpperCase();
    for (const route of policy.routes) {
        const methods = route.methods ?? [];
        const methodOk = methods.length === 0 ||
            methods.some((m) => m.toUpperCase() === upper || (upper === 'HEAD' && m.toUpperCase() === 'GET'));
        if (!methodOk)
            continue;
        const params = matchPath(route.path, segments, fold);
        if (params === undefined)
            continue;
        if (!queryMatches(route.query, parsed.searchParams))
            continue;
        return { route, params };
    }
    return undefined;
}
function matchPath(pattern, segments, fold) {
    const parts = pattern.split('/').filter((s) => s.length > 0);
    const params = {};
    for (let i = 0; i < parts.length; i++) {
        if (parts[i] === '**')
            return params;
        const segment = segments[i];
        if (segment === undefined)
            return undefined;
        const m = segmentMatches(parts[i], segment, fold);
        if (!m.ok)
            return undefined;
        if (m.name !== undefined)
            params[m.name] = segment;
    }
    return parts.length === segments.length ? params : undefined;
}
function queryMatches(query, search) {
    for (const [name, want] of Object.entries(query ?? {})) {
        const value = search.get(name);
        const present = value !== null && value.length > 0;
        if ((want === 'present') !== present)
            return false;
    }
    return true;
}
/** Whether `value` looks like a version-1 published policy. */
export function isPublishedPolicy(value) {
    const v = value;
    return (typeof v === 'object' &&
        v !== null &&
        v.version === 1 &&
        Array.isArray(v.routes) &&
        typeof v.plans === 'object' &&
        typeof v.offHours === 'object');
}
