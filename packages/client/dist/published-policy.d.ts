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
    readonly ip: {
        readonly concurrency: number;
    };
    readonly paths?: {
        readonly caseSensitive: boolean;
    };
    readonly defaultPlan: string;
    readonly plans: Readonly<Record<string, {
        readonly concurrency: number;
        readonly burst: number;
        readonly queue: number;
    }>>;
    readonly routes: readonly PublishedRoute[];
    readonly bulk: {
        readonly allow: PublishedRate;
        readonly period: string;
    };
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
/**
 * The first route of `policy` that `method` + `url` (a path with its query) falls in.
 *
 * @example
 * matchRoute(policy, 'POST', '/api/reports/monthly')?.route.class; // 'non-public'
 */
export declare function matchRoute(policy: PublishedPolicy, method: string, url: string): RouteMatch | undefined;
/** Whether `value` looks like a version-1 published policy. */
export declare function isPublishedPolicy(value: unknown): value is PublishedPolicy;
