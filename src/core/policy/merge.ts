/**
 * Merges a policy file over the defaults, so a file says only what it changes:
 * `ip: { warn: 50/min }` keeps the default block of 200/min.
 *
 * - Mappings merge key by key, recursively; lists and single values replace.
 * - `plans` merges by name, as the README promises ("what you leave out keeps its
 *   default"): each plan it names is merged over the default plan of the same name, or
 *   over `standard` for a new name; default plans it does not name stay as they are.
 * - A safeguard whose `action` changes does not inherit `durations` or `revokeAfter`
 *   from the default rule: they belonged to the old action.
 *
 * Values of the wrong type are kept as written: the schema has already reported them,
 * and the compiler skips what it cannot read.
 */

type Doc = Record<string, unknown>;

export function isMapping(value: unknown): value is Doc {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A deep merge of mappings; `over` wins, and lists replace. */
export function mergeDeep(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (!isMapping(base) || !isMapping(over)) return over;
  const out: Doc = { ...base };
  for (const [key, value] of Object.entries(over)) out[key] = mergeDeep(base[key], value);
  return out;
}

/**
 * The document the compiler reads: `doc` merged over `defaults`.
 *
 * @example
 * mergeOverDefaults({ ip: { warn: '50/min' } }, defaults).ip; // { warn: '50/min', block: '200/min' }
 */
export function mergeOverDefaults(doc: Doc, defaults: Doc): Doc {
  const merged = mergeDeep(defaults, { ...doc, plans: undefined, safeguards: undefined }) as Doc;
  merged.plans = mergePlans(doc.plans, defaults.plans as Doc);
  merged.safeguards = mergeSafeguards(doc.safeguards, defaults.safeguards as Doc);
  return merged;
}

function mergePlans(plans: unknown, defaults: Doc): unknown {
  if (plans === undefined) return defaults;
  if (!isMapping(plans)) return plans;
  const out: Doc = { ...defaults };
  for (const [name, plan] of Object.entries(plans)) {
    out[name] = mergeDeep(defaults[name] ?? defaults.standard, plan);
  }
  return out;
}

function mergeSafeguards(safeguards: unknown, defaults: Doc): unknown {
  if (!isMapping(safeguards)) return safeguards ?? defaults;
  const out: Doc = { ...defaults };
  for (const [name, rule] of Object.entries(safeguards)) {
    const base = defaults[name];
    if (
      isMapping(base) &&
      isMapping(rule) &&
      rule.action !== undefined &&
      rule.action !== base.action
    ) {
      const { durations: _d, revokeAfter: _r, ...kept } = base;
      out[name] = mergeDeep(kept, rule);
    } else {
      out[name] = mergeDeep(base, rule);
    }
  }
  return out;
}
