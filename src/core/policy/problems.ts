/**
 * A mistake found in a policy document, located by its path of keys and indexes.
 * The compiler works on plain data and reports paths; parse.ts turns each path into a
 * line and column of the YAML text.
 */

import { quote, shorten } from '../echo.ts';

export type PathSegment = string | number;

export interface PathProblem {
  readonly path: readonly PathSegment[];
  readonly message: string;
  /** Point at the key itself (an unknown or misnamed key) rather than its value. */
  readonly at?: 'key';
}

/**
 * Writes a path the way people read it.
 *
 * @example
 * formatPath(['plans', 'standard', 'burst']); // 'plans.standard.burst'
 * formatPath(['routes', 2, 'class']); // 'routes[2].class'
 */
export function formatPath(path: readonly PathSegment[]): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(segment))
      text += text === '' ? shorten(segment) : `.${shorten(segment)}`;
    else text += `[${quote(segment)}]`;
  }
  return text;
}

/** Collects problems in the order they are found; a repeated one is kept once. */
export class ProblemList {
  readonly #seen = new Set<string>();
  readonly items: PathProblem[] = [];

  add(path: readonly PathSegment[], message: string, at?: 'key'): void {
    const id = `${formatPath(path)}\u0000${message}`;
    if (this.#seen.has(id)) return;
    this.#seen.add(id);
    this.items.push(at === undefined ? { path, message } : { path, message, at });
  }
}
