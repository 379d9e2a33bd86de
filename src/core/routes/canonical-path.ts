/**
 * The one canonical form of a request target, so a route rule is decided on the path the
 * upstream will act on, not on the bytes the client chose. Upstreams (Fastify, Express,
 * Spring, IIS…) decode and normalise paths before routing; a gateway that compares the
 * raw target can be walked around with `/api/%72eports`, `/api/x/../reports`,
 * `http://evil.example/api/reports`, and so on.
 *
 * The result has three parts:
 * - `target`: what is forwarded, origin-form (never the client's scheme or authority):
 *   unreserved characters decoded, hex in upper case, dot-segments removed, repeated
 *   slashes collapsed, the raw query kept. Decoding it gives exactly the path sluice
 *   decoded, so the upstream acts on what sluice matched.
 * - `path`: what routes are matched against: `target`'s path fully decoded, and in each
 *   segment `;params` and trailing dots and spaces removed. Some upstreams strip those
 *   (Tomcat/Spring matrix parameters, IIS/Windows trailing dots) and others keep them;
 *   a rule must match if ANY common upstream would route the request there, so sluice
 *   matches the stripped form (over-matching is the safe side) and forwards the unstripped
 *   one (so an upstream that uses matrix parameters keeps them).
 * - `query`: the raw query string, without `?` (route conditions decode its names).
 *
 * What cannot be made canonical safely is refused with a reason: see `PathRefusal`.
 * Pure: no I/O.
 *
 * @example
 * canonicalTarget('http://evil.example/api/x/%2e%2e/%72eports;v=1?full');
 * // { path: '/api/reports', query: 'full', target: '/api/reports;v=1?full' }
 * canonicalTarget('/api%2Freports');
 * // { reason: 'encoded-slash', message: 'the path contains an encoded slash (%2F)' }
 */

/** A target sluice can route and forward. */
export interface CanonicalTarget {
  /** Decoded path that routes are matched against, e.g. `/api/reports`. */
  readonly path: string;
  /** Raw query string without the `?`; empty when there is none. */
  readonly query: string;
  /** Origin-form target to forward, e.g. `/api/reports;v=1?full`. */
  readonly target: string;
}

/** Why a target was refused: a stable machine reason and a sentence for the client. */
export interface PathRefusal {
  readonly reason: PathRefusalReason;
  readonly message: string;
}

export type PathRefusalReason =
  | 'asterisk-form'
  | 'not-origin-form'
  | 'scheme'
  | 'backslash'
  | 'encoded-slash'
  | 'encoded-backslash'
  | 'control-character'
  | 'non-ascii'
  | 'bad-percent-encoding'
  | 'invalid-utf8'
  | 'double-encoded'
  | 'above-root'
  | 'dot-segment';

/**
 * The common case — plain segments of RFC 3986 pchars without `%` or `;`, no empty,
 * dot-only or dot-ended segment — is already canonical: no work beyond this test.
 * Unambiguous (a `.` only between other characters), so it runs in linear time.
 */
const ALREADY_CANONICAL = /^(?:\/[\w~!$&'()*+,=:@-]+(?:\.[\w~!$&'()*+,=:@-]+)*)*\/?$/;

/** `http://host…` / `https://host…` (absolute-form): scheme, then path and query. */
const ABSOLUTE_FORM = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/[^/?#]*(.*)$/s;

const UNRESERVED = /^[A-Za-z0-9._~-]$/;
/** Sub-delimiters and `:` `@`: legal in a path as they are, and meaningful to some upstreams. */
const RAW_OK = /^[!$&'()*+,;=:@]$/;
const HEX = '0123456789ABCDEF';
const utf8 = new TextDecoder('utf-8', { fatal: true });
const toUtf8 = new TextEncoder();

/**
 * The canonical form of a request target (`req.url`), or why it has none.
 *
 * @example
 * canonicalTarget('/api/search?q=x'); // { path: '/api/search', query: 'q=x', target: '/api/search?q=x' }
 */
export function canonicalTarget(raw: string): CanonicalTarget | PathRefusal {
  let rest = raw;
  // A fragment is never the server's business (RFC 9110 §7.1); browsers strip it, and
  // Fastify cuts the path at '#', so what follows must not take part in matching.
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  if (!rest.startsWith('/')) {
    if (rest === '*') {
      return refusal('asterisk-form', 'the request target "*" names no resource');
    }
    const absolute = ABSOLUTE_FORM.exec(rest);
    if (absolute === null) {
      return refusal('not-origin-form', 'the request target must start with "/"');
    }
    const scheme = absolute[1].toLowerCase();
    if (scheme !== 'http' && scheme !== 'https') {
      return refusal('scheme', `the request target uses the scheme "${clip(absolute[1])}"`);
    }
    // Absolute-form: only its path and query count; the client's authority is dropped,
    // so a client cannot choose what the upstream sees as the host or the origin.
    rest = absolute[2].startsWith('/') ? absolute[2] : `/${absolute[2]}`;
  }
  const q = rest.indexOf('?');
  const rawPath = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? '' : rest.slice(q + 1);
  if (ALREADY_CANONICAL.test(rawPath)) {
    return { path: rawPath, query, target: rest };
  }
  return canonicalPath(rawPath, query, q >= 0);
}

function canonicalPath(
  rawPath: string,
  query: string,
  hasQuery: boolean,
): CanonicalTarget | PathRefusal {
  const forward: string[] = [];
  const match: string[] = [];
  const parts = rawPath.split('/');
  for (let i = 1; i < parts.length; i++) {
    const segment = decodeSegment(parts[i]);
    if ('reason' in segment) return segment;
    const { decoded, encoded, key } = segment;
    // Repeated slashes collapse: an empty segment is routed as nothing by the servers
    // that merge slashes (nginx), and forwarding the collapsed form keeps them in step.
    if (decoded === '' || decoded === '.') continue;
    if (decoded === '..') {
      // Resolved after decoding, so %2e%2e is "..". A path that climbs above the root
      // is refused: some servers clamp it at the root, others pass it to a file system.
      if (forward.length === 0) {
        return refusal('above-root', 'the path climbs above the root with ".."');
      }
      forward.pop();
      match.pop();
      continue;
    }
    forward.push(encoded);
    match.push(key);
  }
  const last = parts[parts.length - 1];
  const slash = forward.length > 0 && (last === '' || /^(?:\.|%2e){1,2}$/i.test(last)) ? '/' : '';
  const target = `/${forward.join('/')}${slash}`;
  const keyParts = match.filter((m) => m !== '');
  const path = `/${keyParts.join('/')}${slash && keyParts.length > 0 ? '/' : ''}`;
  return { path, query, target: hasQuery ? `${target}?${query}` : target };
}

interface DecodedSegment {
  /** Fully decoded, as the upstream sees it. */
  readonly decoded: string;
  /** Re-encoded for forwarding. */
  readonly encoded: string;
  /** What routes are matched against. */
  readonly key: string;
}

/** Decodes one path segment (between slashes), or refuses it. */
function decodeSegment(raw: string): DecodedSegment | PathRefusal {
  // Characters with their origin: an escaped reserved character stays escaped when
  // forwarded (%3B is data, ';' is a delimiter); a raw one stays raw.
  const chars: { ch: string; escaped: boolean }[] = [];
  for (let i = 0; i < raw.length; ) {
    const c = raw.charCodeAt(i);
    if (c === 0x25) {
      const bytes: number[] = [];
      while (i < raw.length && raw.charCodeAt(i) === 0x25) {
        const hex = raw.slice(i + 1, i + 3);
        if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
          return refusal(
            'bad-percent-encoding',
            `the path contains "${clip(raw.slice(i, i + 3))}", which is not "%" and two hex digits`,
          );
        }
        bytes.push(Number.parseInt(hex, 16));
        i += 3;
      }
      let text: string;
      try {
        text = utf8.decode(Uint8Array.from(bytes));
      } catch {
        // Fatal decoding also refuses overlong forms such as %C0%AE (a disguised '.').
        return refusal(
          'invalid-utf8',
          `the path's encoded bytes ${clip(bytes.map(hexByte).join(''))} are not valid UTF-8`,
        );
      }
      for (const ch of text) chars.push({ ch, escaped: true });
      continue;
    }
    if (c === 0x5c) {
      // Some servers (and WHATWG URL parsers) read '\' as '/': refused, never guessed.
      return refusal('backslash', 'the path contains a backslash (\\)');
    }
    if (c === 0x20) {
      return refusal('control-character', 'the path contains a raw space; percent-encode it');
    }
    if (c < 0x20 || c === 0x7f) return controlCharacter(c);
    if (c > 0x7e) {
      return refusal('non-ascii', 'the path contains a raw non-ASCII character; percent-encode it');
    }
    chars.push({ ch: raw[i], escaped: false });
    i++;
  }
  let decoded = '';
  let encoded = '';
  for (const { ch, escaped } of chars) {
    const c = ch.charCodeAt(0);
    if (ch === '/') return refusal('encoded-slash', 'the path contains an encoded slash (%2F)');
    if (ch === '\\') {
      return refusal('encoded-backslash', 'the path contains an encoded backslash (%5C)');
    }
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return controlCharacter(c);
    decoded += ch;
    encoded += UNRESERVED.test(ch) || (!escaped && RAW_OK.test(ch)) ? ch : percentEncode(ch);
  }
  // An escape that still decodes to an escape (%2572 → %72) is double encoding: no
  // upstream should decode twice, but some do, and no honest client needs it.
  const twice = /%[0-9A-Fa-f]{2}/.exec(decoded);
  if (twice !== null) {
    return refusal(
      'double-encoded',
      `the path contains "${twice[0]}" after decoding: a percent sign encoded before an escape (double encoding)`,
    );
  }
  if (decoded === '' || decoded === '.' || decoded === '..') return { decoded, encoded, key: '' };
  const key = matchKey(decoded);
  return typeof key === 'string' ? { decoded, encoded, key } : key;
}

/**
 * The segment as the most lenient common upstream routes it: without `;params` (raw or
 * encoded: some upstreams decode first) and without trailing dots and spaces (IIS,
 * Windows). A segment that then reads as a dot-segment (`..;x`, `...`, `. `) is refused:
 * resolving it would be guessing which server strips what.
 */
function matchKey(decoded: string): string | PathRefusal {
  const semicolon = decoded.indexOf(';');
  const base = semicolon < 0 ? decoded : decoded.slice(0, semicolon);
  if (/^[. ]*\.[. ]*$/.test(base)) {
    return refusal(
      'dot-segment',
      `the path segment "${clip(decoded)}" reads as a dot-segment on some servers`,
    );
  }
  return base.replace(/[. ]+$/, '');
}

function controlCharacter(code: number): PathRefusal {
  return refusal(
    'control-character',
    `the path contains a control character (%${hexByte(code & 0xff)})`,
  );
}

function percentEncode(ch: string): string {
  let out = '';
  for (const b of toUtf8.encode(ch)) out += `%${hexByte(b)}`;
  return out;
}

function hexByte(b: number): string {
  return `${HEX[b >> 4]}${HEX[b & 15]}`;
}

/** Client text quoted in a message, kept short. */
function clip(s: string): string {
  return s.length > 24 ? `${s.slice(0, 24)}…` : s;
}

function refusal(reason: PathRefusalReason, message: string): PathRefusal {
  return { reason, message };
}
