/**
 * The `identity` section: credential sources (each names exactly one of `header`,
 * `authorization` or `query`), whether the credential is stripped before forwarding by
 * where the key came from, and the optional delegate endpoint with its defaults.
 *
 * @example
 * compileIdentity({ credentials: [{ query: 'api_key' }] }, ctx).credentials;
 * // [{ kind: 'query', name: 'api_key' }]
 */
import { type Context, type Doc, list, read, section } from './compile-context.ts';
import { isMapping } from './merge.ts';
import { CREDENTIAL_KINDS, CREDENTIAL_ORIGINS, KINDS } from './schema.ts';
import type { CredentialSource, DelegatePolicy, IdentityPolicy } from './types.ts';

/** Delegate settings not written: a lookup waits 2 s at most, answers are kept 5 min… */
const DELEGATE_DEFAULTS = {
  timeout: '2s',
  ttl: '5m',
  negativeTtl: '1m',
  maxEntries: 10_000,
  onFailure: 'refuse',
} as const;

export function compileIdentity(identity: Doc, ctx: Context): IdentityPolicy {
  const credentials = list(identity.credentials).map((c, i) => compileSource(c, i, ctx));
  const seen = new Set<string>();
  credentials.forEach((c, i) => {
    if (c === undefined) return;
    const id =
      c.kind === 'authorization'
        ? `authorization ${c.scheme.toLowerCase()}`
        : `${c.kind} ${c.name}`;
    if (seen.has(id)) ctx.problems.add(['identity', 'credentials', i], `${id} is listed twice`);
    seen.add(id);
  });
  const strip = section(identity.stripCredential);
  return {
    credentials,
    stripCredential: Object.fromEntries(CREDENTIAL_ORIGINS.map((o) => [o, strip[o]])),
    delegate: isMapping(identity.delegate) ? compileDelegate(identity.delegate) : undefined,
  } as unknown as IdentityPolicy;
}

function compileSource(c: unknown, i: number, ctx: Context): CredentialSource | undefined {
  if (!isMapping(c)) return undefined;
  const named = CREDENTIAL_KINDS.filter((k) => c[k] !== undefined);
  if (named.length !== 1) {
    ctx.problems.add(
      ['identity', 'credentials', i],
      named.length === 0
        ? 'a credential source names one of header, authorization or query, like { header: X-API-Key }'
        : `a credential source names one of header, authorization or query, not ${named.join(' and ')}: write one entry each`,
    );
    return undefined;
  }
  if (c.header !== undefined) {
    const label = read(KINDS.headerName, c.header);
    const name = label?.toLowerCase();
    if (name === 'authorization') {
      ctx.problems.add(
        ['identity', 'credentials', i, 'header'],
        'the Authorization header carries a scheme: write { authorization: Bearer }',
      );
    }
    return name === undefined ? undefined : { kind: 'header', name, label };
  }
  if (c.authorization !== undefined) {
    const scheme = read(KINDS.authScheme, c.authorization);
    return scheme === undefined ? undefined : { kind: 'authorization', scheme };
  }
  const name = read(KINDS.queryParam, c.query);
  return name === undefined ? undefined : { kind: 'query', name };
}

function compileDelegate(d: Doc): DelegatePolicy {
  const v: Doc = { ...DELEGATE_DEFAULTS, ...d };
  return {
    url: read(KINDS.url, v.url),
    timeoutMs: read(KINDS.timerDuration, v.timeout),
    ttlMs: read(KINDS.timerDuration, v.ttl),
    negativeTtlMs: read(KINDS.timerDuration, v.negativeTtl),
    maxEntries: v.maxEntries,
    onFailure: v.onFailure,
  } as DelegatePolicy;
}
