/**
 * Reads the IETF RateLimit header fields sluice sends (draft-ietf-httpapi-ratelimit-headers,
 * structured-field lists, one member per policy):
 *
 *   RateLimit-Policy: "ip";q=200;w=60, "account";q=80;w=60
 *   RateLimit: "ip";r=187;t=1, "account";r=19;t=10
 */
/** Parses one structured-field list into name → parameters; members it cannot read are skipped. */
function parseList(value) {
    const out = new Map();
    if (value === null)
        return out;
    for (const member of value.split(',')) {
        const [rawName, ...params] = member.trim().split(';');
        const name = rawName.trim().replace(/^"(.*)"$/, '$1');
        if (name.length === 0)
            continue;
        const values = {};
        for (const param of params) {
            const [k, v] = param.split('=');
            const n = Number(v);
            if (k !== undefined && Number.isFinite(n))
                values[k.trim()] = n;
        }
        out.set(name, values);
    }
    return out;
}
/**
 * The policies an answer's headers describe, with a quota and a window each.
 *
 * @example
 * readLimits(new Headers({ 'ratelimit-policy': '"account";q=80;w=60', ratelimit: '"account";r=19;t=10' }));
 * // [{ policy: 'account', q: 80, w: 60, r: 19, t: 10 }]
 */
export function readLimits(headers) {
    const policies = parseList(headers.get('ratelimit-policy'));
    const state = parseList(headers.get('ratelimit'));
    const out = [];
    for (const [policy, p] of policies) {
        if (!(p.q > 0 && p.w > 0))
            continue;
        const s = state.get(policy);
        out.push({ policy, q: p.q, w: p.w, r: s?.r, t: s?.t });
    }
    return out;
}
/**
 * `Retry-After` in milliseconds (delta-seconds or an HTTP date), or undefined.
 *
 * @example
 * retryAfterMs(new Headers({ 'retry-after': '17' }), 0); // 17000
 */
export function retryAfterMs(headers, now) {
    const value = headers.get('retry-after');
    if (value === null)
        return undefined;
    if (/^\d+$/.test(value.trim()))
        return Number(value.trim()) * 1000;
    const at = Date.parse(value);
    return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
