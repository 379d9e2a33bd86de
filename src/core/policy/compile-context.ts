/**
 * What the compiler's parts share: the problem list, the document as written, the
 * environment, and readers for values that may be invalid.
 */
import { isMapping } from './merge.ts';
import type { PathSegment, ProblemList } from './problems.ts';
import { KINDS } from './schema.ts';
import type { Rate } from './types.ts';
import type { Parsed } from './units.ts';

/** Environment variables `secretEnv` is resolved from. */
export type Env = Readonly<Record<string, string | undefined>>;

export type Doc = Record<string, unknown>;

export interface Context {
  readonly problems: ProblemList;
  /** The document as written (before defaults), to blame settings people wrote. */
  readonly user: Doc;
  readonly env: Env;
}

// Reading values that may be invalid: the schema has reported those, so they become
// undefined here and no second message is added. The compiled objects are therefore
// cast to their types: they are returned only when no problem was found, and then
// every value is valid.

export function read<T>(parse: (v: unknown) => Parsed<T>, value: unknown): T | undefined {
  const parsed = parse(value);
  return parsed.ok ? parsed.value : undefined;
}
export function section(value: unknown): Doc {
  return isMapping(value) ? value : {};
}
export function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
/** True when the person wrote this setting (rather than inheriting a default). */
export function wrote(ctx: Context, path: readonly PathSegment[]): boolean {
  let node: unknown = ctx.user;
  for (const key of path) {
    if (!isMapping(node) || !(String(key) in node)) return false;
    node = node[String(key)];
  }
  return true;
}
export const rate = (v: unknown): Rate | undefined => read(KINDS.rate, v);

/**
 * Freezes a value and everything it holds.
 *
 * @example
 * deepFreeze({ a: { b: 1 } }).a; // frozen too
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
