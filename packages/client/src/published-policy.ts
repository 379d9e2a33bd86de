/**
 * The gateway's published policy (`GET /.well-known/sluice`): the parts the client acts
 * on, and the route matching that tells which route (class, cost) a request falls in.
 */

export interface PublishedRate {
  readonly limit: number;
  readonly periodSec: number;
  readonly text: string;
}

export interface PublishedRoute {
  readonly name: string;
  /** Methods the route covers; empty or absent: every method. */
  readonly methods?: readonly string[];
  readonly path: string;
  readonly query?: Readonly<Record<string, 'present' | 'absent'>>;
  readonly class: 'public' | 'non-public' | 'bulk' | 'batch';
  readonly cost: number;
  readonly rate: PublishedRate | null;
  readonly dataset?: string;
}

export interface PublishedWindow {
  readonly start: string;
  readonly end: string;
}

/** What `/.well-known/sluice` holds (version 1), as far as the client reads it. */
export interface PublishedPolicy {
  readonly version: number;
  readonly generatedAt: string;
  readonly ip: { readonly concurrency: number };
  readonly paths?: { readonly caseSensitive: boolean };
  readonly defaultPlan: string;
  readonly plans: Readonly<
    Record<string, { readonly concurrency: number; readonly burst: number; readonly queue: number }>
  >;
  readonly routes: readonly PublishedRoute[];
  readonly bulk: { readonly allow: PublishedRate; readonly period: string };
  readonly offHours: {
    readonly timeZone: string;
    readonly windows: readonly string[];
    readonly inWindow: boolean;
    readonly current: PublishedWindow | null;
    readonly next: PublishedWindow | null;
  };
}

/** A request's route as the policy classes it: the first route that matches, or none. */
export interface RouteMatch {
  readonly route: PublishedRoute;
  /** Named segments (`:dataset`) and their values. */
  readonly params: Readonly<Record<string, string>>;
}

function segmentMatches(
  pattern: string,
  segment: string,
  fold: (s: string) => string,
): { ok: boolean; name?: string } {
  if (pattern === '*') return { ok: true };
  const named = /^:([A-Za-z0-9_]+)(?:\((.*)\))?$/.exec(pattern);
  if (named !== null) {
    const [, name, choices] = named;
    if (choices === undefined) return { ok: segment.length > 0, name };
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
export function matchRoute(
  policy: PublishedPolicy,
  method: string,
  url: string,
): RouteMatch | undefined {
  const fold =
    policy.paths?.caseSensitive === true ? (s: string) => s : (s: string) => s.toLowerCase();
  const parsed = new URL(url, 'http://sluice.invalid');
  let path: string;
  try {
    path = decodeURIComponent(parsed.pathname);
  } catch {
    path = parsed.pathname;
  }
  const segments = path.split('/').filter((s) => s.length > 0);
  const upper = method.toUpperCase();
  for (const route of policy.routes) {
    const methods = route.methods ?? [];
    const methodOk =
      methods.length === 0 ||
      methods.some(
        (m) => m.toUpperCase() === upper || (upper === 'HEAD' && m.toUpperCase() === 'GET'),
      );
    if (!methodOk) continue;
    const params = matchPath(route.path, segments, fold);
    if (params === undefined) continue;
    if (!queryMatches(route.query, parsed.searchParams)) continue;
    return { route, params };
  }
  return undefined;
}

function matchPath(
  pattern: string,
  segments: readonly string[],
  fold: (s: string) => string,
): Record<string, string> | undefined {
  const parts = pattern.split('/').filter((s) => s.length > 0);
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    if (parts[i] === '**') return params;
    const segment = segments[i];
    if (segment === undefined) return undefined;
    const m = segmentMatches(parts[i], segment, fold);
    if (!m.ok) return undefined;
    if (m.name !== undefined) params[m.name] = segment;
  }
  return parts.length === segments.length ? params : undefined;
}

function queryMatches(query: PublishedRoute['query'], search: URLSearchParams): boolean {
  for (const [name, want] of Object.entries(query ?? {})) {
    const value = search.get(name);
    const present = value !== null && value.length > 0;
    if ((want === 'present') !== present) return false;
  }
  return true;
}

/** Whether `value` looks like a version-1 published policy. */
export function isPublishedPolicy(value: unknown): value is PublishedPolicy {
  const v = value as PublishedPolicy | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    v.version === 1 &&
    Array.isArray(v.routes) &&
    typeof v.plans === 'object' &&
    typeof v.offHours === 'object'
  );
}
