/**
 * Finds the policy route a request belongs to — first match wins, as written in the
 * policy. Patterns are compiled once per policy: `*` is one segment, `**` any rest of
 * the path (also none: `/api/reports/**` matches `/api/reports`), `:name` one segment
 * captured as a parameter. Query conditions require a parameter to be present or absent.
 * A request that matches no route is `public` with cost 1.
 *
 * @example
 * const match = compileRoutes(policy.routes);
 * match('GET', '/api/exports/devices', 'format=ndjson');
 * // { route: <the export route>, params: { dataset: 'devices' } }
 */
import type { RoutePolicy } from '../policy/types.ts';

export interface RouteMatch {
  readonly route: RoutePolicy;
  readonly params: Readonly<Record<string, string>>;
}

export type RouteMatcher = (method: string, path: string, query: string) => RouteMatch | undefined;

type Segment =
  | { kind: 'literal'; value: string }
  | { kind: 'one'; name?: string }
  | { kind: 'rest' };

function compilePattern(pattern: string): Segment[] {
  return pattern
    .split('/')
    .filter((s) => s.length > 0)
    .map((s): Segment => {
      if (s === '**') return { kind: 'rest' };
      if (s === '*') return { kind: 'one' };
      if (s.startsWith(':')) return { kind: 'one', name: s.slice(1) };
      return { kind: 'literal', value: s };
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
    } else if (seg.name !== undefined) params[seg.name] = safeDecode(part);
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

/** Names of the query parameters present (with or without a value). */
function queryNames(query: string): Set<string> {
  const names = new Set<string>();
  if (query.length === 0) return names;
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    const name = safeDecode(eq < 0 ? pair : pair.slice(0, eq));
    if (name.length > 0) names.add(name);
  }
  return names;
}

/** Compiles the policy's routes into a matcher. */
export function compileRoutes(routes: readonly RoutePolicy[]): RouteMatcher {
  if (routes.length === 0) return () => undefined;
  const compiled = routes.map((route) => ({
    route,
    segments: compilePattern(route.path),
    methods: route.methods.length === 0 ? undefined : new Set(route.methods),
  }));
  return (method, path, query) => {
    const parts = path.split('/').filter((s) => s.length > 0);
    let names: Set<string> | undefined;
    for (const c of compiled) {
      if (c.methods !== undefined && !c.methods.has(method)) continue;
      const params = matchSegments(c.segments, parts);
      if (params === undefined) continue;
      if (c.route.query.length > 0) {
        names ??= queryNames(query);
        if (!c.route.query.every((q) => names!.has(q.param) === q.present)) continue;
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
