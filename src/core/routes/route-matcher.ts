/**
 * Finds the policy route a request belongs to — first match wins, as written in the
 * policy. Patterns are compiled once per policy: `*` is one segment, `**` any rest of
 * the path (also none: `/api/reports/**` matches `/api/reports`), `:name` one segment
 * captured as a parameter, `:name(a|b)` one segment that is one of the values listed.
 * Query conditions require a parameter to be present or absent.
 * A request that matches no route is `public` with cost 1.
 *
 * The path given is the canonical, decoded one (canonical-path.ts), never the raw
 * target. Everything here leans the same way: a route matches whenever a common
 * upstream would route the request there, since over-matching only applies a rule.
 *
 * @example
 * const match = compileRoutes(policy.routes, { caseSensitive: false });
 * match('GET', '/api/exports/devices', 'format=ndjson');
 * // { route: <the export route>, params: { dataset: 'devices' } }
 */
import type { QueryCondition, RoutePolicy } from '../policy/types.ts';

export interface RouteMatch {
  readonly route: RoutePolicy;
  readonly params: Readonly<Record<string, string>>;
}

export type RouteMatcher = (method: string, path: string, query: string) => RouteMatch | undefined;

type Segment =
  | { kind: 'literal'; value: string }
  | { kind: 'one'; name?: string; values?: ReadonlySet<string> }
  | { kind: 'rest' };

function compilePattern(pattern: string, fold: (s: string) => string): Segment[] {
  return pattern
    .split('/')
    .filter((s) => s.length > 0)
    .map((s): Segment => {
      if (s === '**') return { kind: 'rest' };
      if (s === '*') return { kind: 'one' };
      if (s.startsWith(':')) {
        // `:name(a|b|c)`: one segment, only one of the values listed (compared as literals).
        const open = s.indexOf('(');
        if (open < 0) return { kind: 'one', name: s.slice(1) };
        const values = s.slice(open + 1, -1).split('|');
        return {
          kind: 'one',
          name: s.slice(1, open),
          values: new Set(values.map((v) => fold(safeDecode(v)))),
        };
      }
      // Literals are compared with decoded paths, so they are decoded too.
      return { kind: 'literal', value: fold(safeDecode(s)) };
    });
}

function matchSegments(
  segments: readonly Segment[],
  parts: readonly string[],
): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    if (seg.kind === 'rest') return params;
    const part = parts[i];
    if (part === undefined) return undefined;
    if (seg.kind === 'literal') {
      if (seg.value !== part) return undefined;
    } else {
      if (seg.values !== undefined && !seg.values.has(part)) return undefined;
      if (seg.name !== undefined) params[seg.name] = part;
    }
  }
  return parts.length === segments.length ? params : undefined;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** One query parameter's name as a form decoder reads it (`+` is a space). */
function queryName(pair: string): string {
  const eq = pair.indexOf('=');
  return safeDecode((eq < 0 ? pair : pair.slice(0, eq)).replaceAll('+', ' '));
}

/**
 * What a query string says about parameter names, leaning towards the rule as above:
 * `present` holds if any common parser would see the name (any case, `name[]`, `;` as
 * a separator, an empty value); `absent` holds unless the exact name has a value, since
 * Fastify's parser is case-sensitive and much code treats `?name=` like no name.
 */
interface QueryNames {
  /** Loose names: lower case, `[…]` suffix removed, split at `&` and `;`. */
  readonly seen: ReadonlySet<string>;
  /** Exact decoded names that carry a non-empty value. */
  readonly valued: ReadonlySet<string>;
}

function queryNames(query: string): QueryNames {
  const seen = new Set<string>();
  const valued = new Set<string>();
  if (query.length === 0) return { seen, valued };
  for (const pair of query.split(/[&;]/)) {
    const name = queryName(pair);
    if (name.length > 0) seen.add(name.replace(/\[.*$/, '').toLowerCase());
  }
  // The exact reading is Fastify's: only '&' separates.
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && eq < pair.length - 1) valued.add(queryName(pair));
  }
  return { seen, valued };
}

function holds(names: QueryNames, condition: QueryCondition): boolean {
  return condition.present
    ? names.seen.has(condition.param.toLowerCase())
    : !names.valued.has(condition.param);
}

/** Upper then lower case: equal for any upstream that ignores case either way (ſ, K). */
function foldCase(s: string): string {
  return s.toUpperCase().toLowerCase();
}

export interface RouteMatchOptions {
  /**
   * `false` (the policy's default): paths are compared ignoring case, so `/API/Reports`
   * is still the reports route and a dataset segment counts in lower case.
   */
  readonly caseSensitive?: boolean;
}

/** Compiles the policy's routes into a matcher. */
export function compileRoutes(
  routes: readonly RoutePolicy[],
  options: RouteMatchOptions = {},
): RouteMatcher {
  if (routes.length === 0) return () => undefined;
  const fold = options.caseSensitive === true ? (s: string) => s : foldCase;
  const compiled = routes.map((route) => ({
    route,
    segments: compilePattern(route.path, fold),
    // Upstreams answer HEAD with the GET handler (Fastify, Express): a GET rule covers it.
    methods:
      route.methods.length === 0
        ? undefined
        : new Set(route.methods.includes('GET') ? [...route.methods, 'HEAD'] : route.methods),
  }));
  return (method, path, query) => {
    const parts = fold(path)
      .split('/')
      .filter((s) => s.length > 0);
    let names: QueryNames | undefined;
    for (const c of compiled) {
      if (c.methods !== undefined && !c.methods.has(method)) continue;
      const params = matchSegments(c.segments, parts);
      if (params === undefined) continue;
      if (c.route.query.length > 0) {
        names ??= queryNames(query);
        const n = names;
        if (!c.route.query.every((q) => holds(n, q))) continue;
      }
      return { route: c.route, params };
    }
    return undefined;
  };
}

/** The dataset a bulk request counts against: a path parameter (`:dataset`) or the route's. */
export function datasetOf(match: RouteMatch): string {
  const d = match.route.dataset;
  return d.startsWith(':') ? (match.params[d.slice(1)] ?? d) : d;
}
