/**
 * The credential (API key) of a request, read from every source the policy lists
 * (`identity.credentials`): headers (`X-API-Key: <key>`), the `Authorization` header with
 * a scheme (`Authorization: Bearer <key>`), a query parameter (`?api_key=<key>`). The
 * same key sent in several places (or twice in one) is that key; two different keys are
 * a conflict the gateway refuses (400 `credential-conflict`) rather than guess which one
 * the client meant. Only the key's hash and public id ever leave the identify step.
 *
 * @example
 * const read = credentialOf(req, policy.identity.credentials);
 * if (read === undefined) keyless();
 * else if ('conflict' in read) refuse400();
 * else lookUp(hashApiKey(read.credential));
 */
import type { IncomingMessage } from 'node:http';
import type { CredentialSource } from '../core/policy/types.ts';

export type CredentialRead =
  | {
      readonly credential: string;
      /** Every source it was found in: what stripping removes. */
      readonly sources: readonly CredentialSource[];
    }
  | { readonly conflict: readonly CredentialSource[] };

/** The request's credential, a conflict, or undefined when it carries none. */
export function credentialOf(
  req: Pick<IncomingMessage, 'headers' | 'url'> & {
    headersDistinct?: IncomingMessage['headersDistinct'];
  },
  sources: readonly CredentialSource[],
): CredentialRead | undefined {
  let credential: string | undefined;
  let conflict = false;
  const found: CredentialSource[] = [];
  let query: URLSearchParams | undefined;
  for (const source of sources) {
    let values: readonly string[];
    if (source.kind === 'query') {
      const url = req.url ?? '/';
      const at = url.indexOf('?');
      if (at === -1) continue;
      query ??= new URLSearchParams(url.slice(at + 1));
      values = query.getAll(source.name);
    } else {
      const name = source.kind === 'header' ? source.name : 'authorization';
      values = headerValues(req, name);
      if (source.kind === 'authorization')
        values = values.flatMap((v) => withScheme(v, source.scheme));
    }
    let here = false;
    for (const raw of values) {
      const value = raw.trim();
      if (value === '') continue;
      here = true;
      if (credential === undefined) credential = value;
      else if (value !== credential) conflict = true;
    }
    if (here) found.push(source);
  }
  if (credential === undefined) return undefined;
  return conflict ? { conflict: found } : { credential, sources: found };
}

const NONE: readonly string[] = [];

/** Every value of a header as sent (Node keeps only the first `Authorization` in `headers`). */
function headerValues(
  req: Pick<IncomingMessage, 'headers'> & {
    headersDistinct?: IncomingMessage['headersDistinct'];
    rawHeaders?: IncomingMessage['rawHeaders'];
  },
  name: string,
): readonly string[] {
  // The raw pairs hold what `headersDistinct` would, for the one name asked: reading
  // that getter builds arrays for every header of the request.
  const raw = req.rawHeaders;
  if (raw !== undefined) {
    let values: string[] | undefined;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const n = raw[i];
      if (n.length !== name.length || n.toLowerCase() !== name) continue;
      if (values === undefined) values = [raw[i + 1]];
      else values.push(raw[i + 1]);
    }
    return values ?? NONE;
  }
  const distinct = req.headersDistinct?.[name];
  if (distinct !== undefined) return distinct;
  const value = req.headers[name];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** The token of `Authorization: <scheme> <token>` when the scheme matches (any case). */
function withScheme(value: string, scheme: string): string[] {
  const n = scheme.length;
  return value.length > n + 1 &&
    value[n] === ' ' &&
    value.slice(0, n).toLowerCase() === scheme.toLowerCase()
    ? [value.slice(n + 1)]
    : [];
}

/**
 * The request target without the query parameters named: a stripped credential sent as
 * `?api_key=…` never reaches the upstream. Other parameters keep their order and bytes.
 *
 * @example
 * withoutQueryParams('/api/x?api_key=k&page=2', ['api_key']); // '/api/x?page=2'
 */
export function withoutQueryParams(target: string, names: readonly string[]): string {
  const at = target.indexOf('?');
  if (at === -1) return target;
  const kept = target
    .slice(at + 1)
    .split('&')
    .filter((pair) => {
      const name = pair.split('=', 1)[0];
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replaceAll('+', ' '));
      } catch {
        // A malformed escape is no parameter name we strip.
      }
      return !names.includes(decoded);
    });
  return kept.length === 0 ? target.slice(0, at) : `${target.slice(0, at)}?${kept.join('&')}`;
}
