/**
 * Absolute URLs an upstream writes in its answer's `Location`, `Content-Location` and
 * `Link` headers point at the upstream's own address (its configured base URL, or the
 * Host it was sent). A client that follows them would go around the gateway. As nginx's
 * `proxy_redirect default` and Apache's `ProxyPassReverse` do, a URL under the
 * upstream's base is moved to the same place under the public base; every other URL
 * (relative ones, other origins, the upstream's origin outside its base path) and every
 * header that does not parse as expected is passed on exactly as it came: a rewrite
 * never breaks an answer.
 *
 * @example
 * const map = urlMapping('http://10.0.0.5:3000/v1', 'https://api.example.com');
 * rewriteUrlHeader('location', 'http://10.0.0.5:3000/v1/items/2', map); // 'https://api.example.com/items/2'
 * rewriteUrlHeader('link', '<http://10.0.0.5:3000/v1/items?page=2>; rel="next"', map);
 * // '<https://api.example.com/items?page=2>; rel="next"'
 */

/** Where upstream URLs are moved from and to. */
export interface UrlMapping {
  /** The upstream's origin as the URL parser writes it (`http://10.0.0.5:3000`). */
  readonly origin: string;
  /** The upstream's base path without a trailing `/` (`/v1`), or `''`. */
  readonly basePath: string;
  /** The public base without a trailing `/` (`https://api.example.com`, `https://example.com/api`). */
  readonly publicBase: string;
}

/** The response headers whose URLs are rewritten (lower-case). */
export const URL_HEADERS: ReadonlySet<string> = new Set(['location', 'content-location', 'link']);

/**
 * The mapping from an upstream base URL to a public one; undefined when either is not
 * an absolute http(s) URL.
 *
 * @example
 * urlMapping('http://127.0.0.1:3000', 'http://gw.example:8080/'); // { origin: 'http://127.0.0.1:3000', basePath: '', publicBase: 'http://gw.example:8080' }
 */
export function urlMapping(upstream: string, publicBase: string): UrlMapping | undefined {
  const up = parseHttpUrl(upstream);
  const pub = parseHttpUrl(publicBase);
  if (up === undefined || pub === undefined) return undefined;
  return {
    origin: up.origin,
    basePath: trimSlash(up.pathname),
    publicBase: pub.origin + trimSlash(pub.pathname),
  };
}

function parseHttpUrl(text: string): URL | undefined {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

function trimSlash(path: string): string {
  return path.endsWith('/') ? path.slice(0, -1) : path;
}

/**
 * One response header's value with its upstream URLs moved to the public base; any
 * other header, or a value that does not parse, unchanged.
 */
export function rewriteUrlHeader(name: string, value: string, map: UrlMapping): string {
  const lower = name.toLowerCase();
  if (lower === 'link') return rewriteLink(value, map);
  if (lower === 'location' || lower === 'content-location') return rewriteUrl(value, map);
  return value;
}

/** `scheme://authority` at the start of an absolute URL. */
const ORIGIN_PART = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;

/**
 * A URL under the upstream's base, moved under the public base; anything else as it was.
 * Only the origin and base path are replaced: the rest is kept byte for byte (never
 * re-encoded by a URL parser).
 */
export function rewriteUrl(value: string, map: UrlMapping): string {
  const head = ORIGIN_PART.exec(value);
  if (head === null) return value;
  const origin = parseHttpUrl(head[0])?.origin;
  // A URL with user info (`http://x@host`) is left alone: it is not a link a client follows.
  if (origin !== map.origin || head[0].includes('@')) return value;
  let rest = value.slice(head[0].length);
  if (map.basePath !== '') {
    if (!rest.startsWith(map.basePath)) return value;
    const after = rest.slice(map.basePath.length);
    // `/v1x` is not under `/v1`.
    if (after !== '' && after[0] !== '/' && after[0] !== '?' && after[0] !== '#') return value;
    rest = after;
  }
  if (rest === '' || rest[0] === '/') return map.publicBase + rest;
  return `${map.publicBase}/${rest}`;
}

/**
 * A `Link` header (RFC 8288: `<uri>; param=value, <uri>; …`) with each target rewritten;
 * a value that is not a list of `<…>` links (quoted strings and commas inside them
 * respected) is returned unchanged, whole.
 */
export function rewriteLink(value: string, map: UrlMapping): string {
  let out = '';
  let i = 0;
  const n = value.length;
  while (i < n) {
    let j = i;
    while (j < n && (value[j] === ' ' || value[j] === '\t' || value[j] === ',')) j++;
    out += value.slice(i, j);
    if (j >= n) break;
    if (value[j] !== '<') return value;
    const close = value.indexOf('>', j);
    if (close < 0) return value;
    out += `<${rewriteUrl(value.slice(j + 1, close), map)}>`;
    // The link's parameters, up to the comma that ends it (not one inside quotes).
    i = close + 1;
    let quoted = false;
    for (j = i; j < n; j++) {
      const c = value[j];
      if (quoted) {
        if (c === '\\') j++;
        else if (c === '"') quoted = false;
      } else if (c === '"') quoted = true;
      else if (c === ',') break;
      else if (c === '<') return value;
    }
    if (quoted) return value;
    out += value.slice(i, j);
    i = j;
  }
  return out;
}
