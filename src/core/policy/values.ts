/**
 * Checkers for the small languages inside a policy file: listen addresses, URLs,
 * IP ranges, time zones, window times, route paths, header names. Each answers the
 * parsed value or a message in plain words that quotes what was written.
 */
import { isIP } from 'node:net';
import { quote } from '../echo.ts';
import { didYouMean } from './did-you-mean.ts';
import { type Parsed, show } from './units.ts';

const fail = (message: string): { ok: false; message: string } => ({ ok: false, message });

/**
 * `HOST:PORT` (IPv6 in brackets: `[::1]:8080`); port 0 lets the system pick one.
 *
 * @example
 * parseListen('127.0.0.1:8080'); // { ok: true, value: { host: '127.0.0.1', port: 8080 } }
 */
export function parseListen(value: unknown): Parsed<{ host: string; port: number }> {
  const bad = `${show(value)} is not a listen address: write HOST:PORT, for example 127.0.0.1:8080`;
  if (typeof value !== 'string') return fail(bad);
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(value.trim());
  if (m === null) return fail(bad);
  const host = m[1] ?? m[2];
  if (m[1] !== undefined && isIP(host) !== 6) return fail(bad);
  const port = Number(m[3]);
  if (port > 65_535) return fail(`${show(value)} has port ${port}: a port is 0 to 65535`);
  return { ok: true, value: { host, port } };
}

/**
 * A Redis server's URL: `redis://` or `rediss://` (TLS), a host, optionally a port,
 * credentials and a database number (`redis://:secret@10.0.0.5:6379/2`).
 *
 * @example
 * parseRedisUrl('redis://127.0.0.1:6379'); // { ok: true, value: 'redis://127.0.0.1:6379' }
 */
export function parseRedisUrl(value: unknown): Parsed<string> {
  const bad = `${show(value)} is not a Redis URL: write redis://HOST:PORT (or rediss:// for TLS), for example redis://127.0.0.1:6379`;
  if (typeof value !== 'string') return fail(bad);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail(bad);
  }
  if ((url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.hostname === '') {
    return fail(bad);
  }
  if (!/^(\/\d{0,2})?$/.test(url.pathname)) {
    return fail(
      `${show(value)} has path ${quote(url.pathname)}: only a database number, like /0, may follow the address`,
    );
  }
  return { ok: true, value };
}

/**
 * A Redis Cluster node, `HOST:PORT` (port 1 to 65535).
 *
 * @example
 * parseHostPort('10.0.0.5:6379'); // { ok: true, value: { host: '10.0.0.5', port: 6379 } }
 */
export function parseHostPort(value: unknown): Parsed<{ host: string; port: number }> {
  const parsed = parseListen(value);
  if (!parsed.ok) {
    return fail(`${show(value)} is not a node address: write HOST:PORT, for example 10.0.0.5:6379`);
  }
  if (parsed.value.port === 0)
    return fail(`${show(value)} has port 0: a node listens on a port from 1 to 65535`);
  return parsed;
}

/** An `http://` or `https://` URL, kept as written. */
export function parseHttpUrl(value: unknown): Parsed<string> {
  const bad = `${show(value)} is not an http:// or https:// URL, for example http://127.0.0.1:3000`;
  if (typeof value !== 'string') return fail(bad);
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return fail(bad);
  } catch {
    return fail(bad);
  }
  return { ok: true, value };
}

/**
 * An IP address or a CIDR range, IPv4 or IPv6.
 *
 * @example
 * parseAddress('10.0.0.0/8'); // { ok: true, value: '10.0.0.0/8' }
 */
export function parseAddress(value: unknown): Parsed<string> {
  const bad = `${show(value)} is not an IP address or CIDR range, for example 10.0.0.0/8 or ::1`;
  if (typeof value !== 'string') return fail(bad);
  const [ip, prefix, ...rest] = value.trim().split('/');
  const family = isIP(ip);
  if (family === 0 || rest.length > 0) return fail(bad);
  if (prefix !== undefined) {
    const bits = family === 4 ? 32 : 128;
    if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > bits) {
      return fail(`${show(value)} is not a CIDR range: an IPv${family} prefix is /0 to /${bits}`);
    }
  }
  return { ok: true, value: value.trim() };
}

/**
 * An IANA time zone name, checked with `Intl`; a close misspelling gets a suggestion.
 * Fixed offsets (`+01:00`) are refused: they do not follow daylight saving time.
 */
export function parseTimeZone(value: unknown): Parsed<string> {
  const example = 'for example America/New_York or Europe/Paris';
  if (typeof value !== 'string' || value.trim() === '' || /^[+-]/.test(value)) {
    return fail(`${show(value)} is not an IANA time zone, ${example}`);
  }
  try {
    const resolved = new Intl.DateTimeFormat('en-US', { timeZone: value }).resolvedOptions()
      .timeZone;
    // Keep what was written (EST stays EST), with the canonical spelling of its case.
    const zone = resolved.toLowerCase() === value.toLowerCase() ? resolved : value;
    return { ok: true, value: zone };
  } catch {
    const guess = didYouMean(value, knownTimeZones());
    return fail(
      guess === undefined
        ? `${show(value)} is not an IANA time zone, ${example}`
        : `${show(value)} is not an IANA time zone (did you mean "${guess}"?)`,
    );
  }
}

/** Every zone `Intl` knows, for suggestions; UTC is not in the list but is valid. */
export function knownTimeZones(): string[] {
  return ['UTC', ...Intl.supportedValuesOf('timeZone')];
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const DAY_NAMES = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const TIME_HINT = 'write HH:MM from 00:00 to 24:00';

/** `HH:MM` → minutes after midnight, 0 to 1440 (24:00 is the end of the day). */
export function parseTimeOfDay(text: string): Parsed<number> {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text);
  const minute = m === null ? Number.NaN : Number(m[1]) * 60 + Number(m[2]);
  if (m === null || Number(m[2]) > 59 || minute > 1440) {
    return fail(`${quote(text)} is not a time of day: ${TIME_HINT}`);
  }
  return { ok: true, value: minute };
}

/**
 * `DAY HH:MM`, e.g. `Sat 00:00`; days as three letters or in full, any case.
 *
 * @example
 * parseWeekTime('Sun 20:00'); // { ok: true, value: { day: 0, minute: 1200 } }
 */
export function parseWeekTime(value: unknown): Parsed<{ day: number; minute: number }> {
  const bad = `${show(value)} is not a day and time: write DAY HH:MM, for example "Sat 00:00"`;
  if (typeof value !== 'string') return fail(bad);
  const m = /^([A-Za-z]+)\s+(\S+)$/.exec(value.trim());
  if (m === null) return fail(bad);
  const name = m[1].toLowerCase();
  const day = name.length === 3 ? DAYS.indexOf(name) : DAY_NAMES.indexOf(name);
  if (day < 0)
    return fail(`${quote(m[1])} is not a day: write Mon, Tue, Wed, Thu, Fri, Sat or Sun`);
  const minute = parseTimeOfDay(m[2]);
  return minute.ok ? { ok: true, value: { day, minute: minute.value } } : minute;
}

/** `HH:MM-HH:MM`, a window every day; it may cross midnight (`22:00-02:00`). */
export function parseDailyRange(value: unknown): Parsed<{ from: number; to: number }> {
  const bad = `${show(value)} is not a daily window: write HH:MM-HH:MM, for example "01:00-03:00"`;
  if (typeof value !== 'string') return fail(bad);
  const m = /^(\S+?)\s*-\s*(\S+)$/.exec(value.trim());
  if (m === null) return fail(bad);
  const from = parseTimeOfDay(m[1]);
  if (!from.ok) return from;
  const to = parseTimeOfDay(m[2]);
  if (!to.ok) return to;
  // 00:00-24:00 is the whole day; any other pair naming one time of day is empty.
  if (from.value % 1440 === to.value % 1440 && !(from.value === 0 && to.value === 1440)) {
    return fail(`${show(value)} starts and ends at the same time, so it is empty`);
  }
  return { ok: true, value: { from: from.value, to: to.value } };
}

/**
 * A route path pattern: `/literal`, `*` (one segment), `:name` (a named segment),
 * `**` (the rest, last only). Answers the names of its `:name` segments.
 */
export function parseRoutePath(value: unknown): Parsed<string[]> {
  const hint =
    'for example /api/search, /api/reports/**, /api/exports/:dataset or /api/:collection(companies|devices)';
  if (typeof value !== 'string' || !value.startsWith('/')) {
    return fail(`${show(value)} is not a route path: it must start with "/", ${hint}`);
  }
  if (/[?#\s]/.test(value)) {
    return fail(
      `${show(value)} is not a route path: no spaces, "?" or "#" (match the query with query:)`,
    );
  }
  const segments = value.slice(1).split('/');
  const names: string[] = [];
  for (const [i, segment] of segments.entries()) {
    const last = i === segments.length - 1;
    if (segment === '' && !last) return fail(`${show(value)} has an empty segment ("//")`);
    if (segment === '**' && !last) return fail(`${show(value)}: "**" may only end a path`);
    if (segment.includes('*') && segment !== '*' && segment !== '**') {
      return fail(`${show(value)}: "*" and "**" must be whole segments, like /api/*/items`);
    }
    if (segment.startsWith(':')) {
      const m = /^:([^(]*)(?:\((.*)\))?$/.exec(segment);
      const name = m?.[1] ?? '';
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        return fail(`${show(value)}: "${segment}" needs a name of letters, digits and _`);
      }
      const alternatives = m?.[2];
      if (alternatives !== undefined && !/^[^|()/]+(\|[^|()/]+)*$/.test(alternatives)) {
        return fail(
          `${show(value)}: "${segment}" lists its values as :${name}(a|b|c), each value one or more characters`,
        );
      }
      if (names.includes(name)) return fail(`${show(value)} names ":${name}" twice`);
      names.push(name);
    }
  }
  return { ok: true, value: names };
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** An HTTP header name (an RFC 9110 token). */
export function parseHeaderName(value: unknown): Parsed<string> {
  if (typeof value === 'string' && TOKEN.test(value)) return { ok: true, value };
  return fail(`${show(value)} is not a header name: use letters, digits and -`);
}

/** An `Authorization` scheme, e.g. `Bearer` or `Token` (a token, RFC 9110 §11.1). */
export function parseAuthScheme(value: unknown): Parsed<string> {
  if (typeof value === 'string' && TOKEN.test(value)) return { ok: true, value };
  return fail(
    `${show(value)} is not an Authorization scheme: use letters, digits and -, like Bearer`,
  );
}

/** A query parameter name that needs no percent-encoding, e.g. `api_key`. */
export function parseQueryParam(value: unknown): Parsed<string> {
  if (typeof value === 'string' && /^[A-Za-z0-9._~-]{1,64}$/.test(value))
    return { ok: true, value };
  return fail(
    `${show(value)} is not a query parameter name: use letters, digits, ".", "_", "~" and "-"`,
  );
}

/** A cookie name (also a token). */
export function parseCookieName(value: unknown): Parsed<string> {
  if (typeof value === 'string' && TOKEN.test(value)) return { ok: true, value };
  return fail(`${show(value)} is not a cookie name: use letters, digits, - and _`);
}

export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** A method or a list of methods, any case; answers them upper-case. */
export function parseMethods(value: unknown): Parsed<string[]> {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) return fail('lists no method (leave method out to match any method)');
  const methods: string[] = [];
  for (const item of list) {
    const upper = typeof item === 'string' ? item.toUpperCase() : '';
    if (!(METHODS as readonly string[]).includes(upper)) {
      return fail(`${show(item)} is not an HTTP method: use ${METHODS.join(', ')}`);
    }
    if (!methods.includes(upper)) methods.push(upper);
  }
  return { ok: true, value: methods };
}

/** A name used in incidents and metrics: route and plan names. */
export function parseName(value: unknown): Parsed<string> {
  if (typeof value === 'string' && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value)) {
    return { ok: true, value };
  }
  return fail(`${show(value)} is not a name: use letters, digits, ".", "-" and "_"`);
}

/** A bulk route's dataset: a fixed name, or `:segment` to take it from the path. */
export function parseDataset(value: unknown): Parsed<string> {
  if (typeof value === 'string' && /^:?[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(value)) {
    return { ok: true, value };
  }
  return fail(
    `${show(value)} is not a dataset: write a name like companies, or ":segment" to take it from the path`,
  );
}

/** The name of an environment variable. */
export function parseEnvName(value: unknown): Parsed<string> {
  if (typeof value === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(value)) {
    return { ok: true, value };
  }
  return fail(`${show(value)} is not an environment variable name, for example SLUICE_SECRET`);
}

/** Most worker threads `server.threads` may ask for (far more than any machine's cores). */
export const MAX_THREADS = 256;

/**
 * `server.threads`: a whole number of worker threads, or `auto` (one per core, decided
 * where the gateway starts: the core has no I/O).
 *
 * @example
 * parseThreads(2); // { ok: true, value: 2 }
 * parseThreads('auto'); // { ok: true, value: 'auto' }
 */
export function parseThreads(value: unknown): Parsed<number | 'auto'> {
  if (value === 'auto') return { ok: true, value };
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_THREADS) {
    return { ok: true, value };
  }
  return fail(
    `${show(value)} is not a thread count: write a whole number from 1 to ${MAX_THREADS}, or auto (one per core)`,
  );
}

/** Any text that is not empty. */
export function parseText(value: unknown): Parsed<string> {
  if (typeof value === 'string' && value.trim() !== '') return { ok: true, value };
  return fail(
    typeof value === 'string' ? 'must not be empty' : `expected text, got ${show(value)}`,
  );
}
