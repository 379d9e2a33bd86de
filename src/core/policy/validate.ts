/**
 * Validates a policy document against POLICY_SCHEMA with ajv (`allErrors`, so every
 * mistake is found in one pass) and rewrites each ajv error in plain words:
 * `unknown setting "brust" (did you mean "burst"?)`, `expected a whole number, got "ten"`.
 */
import { Ajv, type ErrorObject } from 'ajv';
import { quote } from '../echo.ts';
import { didYouMean } from './did-you-mean.ts';
import type { PathSegment, ProblemList } from './problems.ts';
import { kindChecker, POLICY_SCHEMA } from './schema.ts';
import { show } from './units.ts';

const ajv = new Ajv({ allErrors: true, verbose: true, strict: true });
ajv.addKeyword({
  keyword: 'kind',
  schemaType: 'string',
  errors: false,
  validate: (name: string, data: unknown) => kindChecker(name)(data).ok,
});
const validateSchema = ajv.compile(POLICY_SCHEMA);

/** Adds one problem per schema violation of `doc` to `problems`. */
export function checkSchema(doc: unknown, problems: ProblemList): void {
  if (validateSchema(doc)) return;
  for (const error of validateSchema.errors ?? []) {
    // An if/then/else reports its failing branch itself; "must match then" adds nothing.
    if (error.keyword === 'if') continue;
    const path = pointerToPath(error.instancePath, doc);
    if (error.keyword === 'additionalProperties') {
      const key = String(error.params.additionalProperty);
      problems.add([...path, key], unknownSetting(key, error), 'key');
    } else {
      problems.add(path, describe(error, path));
    }
  }
}

/** `/routes/2/class` → `['routes', 2, 'class']` (indexes of lists as numbers). */
function pointerToPath(pointer: string, doc: unknown): PathSegment[] {
  const path: PathSegment[] = [];
  let node = doc;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    const segment = Array.isArray(node) ? Number(key) : key;
    path.push(segment);
    node = (node as Record<PathSegment, unknown> | undefined)?.[segment];
  }
  return path;
}

function unknownSetting(key: string, error: ErrorObject): string {
  const known = Object.keys((error.parentSchema?.properties as object | undefined) ?? {});
  const guess = didYouMean(key, known);
  if (guess !== undefined) return `unknown setting ${quote(key)} (did you mean "${guess}"?)`;
  return `unknown setting ${quote(key)} (known here: ${known.join(', ')})`;
}

const TYPE_WORDS: Record<string, string> = {
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  string: 'text',
  array: 'a list',
  object: 'a mapping of settings',
};

function describe(error: ErrorObject, path: PathSegment[]): string {
  const got = show(error.data);
  switch (error.keyword) {
    case 'kind': {
      const parsed = kindChecker(String(error.schema))(error.data);
      return parsed.ok ? 'is not valid' : parsed.message;
    }
    case 'type':
      if (path.length === 0) {
        return `the policy must be a mapping of settings (like "ip:" and "plans:"), got ${got}`;
      }
      return `expected ${TYPE_WORDS[String(error.params.type)] ?? error.params.type}, got ${got}`;
    case 'enum': {
      const allowed = (error.params.allowedValues as unknown[]).map(String);
      if (path.length === 1 && path[0] === 'version') return `must be 1, got ${got}`;
      const guess = typeof error.data === 'string' ? didYouMean(error.data, allowed) : undefined;
      const hint = guess === undefined ? '' : ` (did you mean "${guess}"?)`;
      return `must be one of: ${allowed.join(', ')}; got ${got}${hint}`;
    }
    case 'minimum':
      return `must be at least ${error.params.limit}, got ${got}`;
    case 'minItems':
      return 'must list at least one';
    case 'required':
      return `missing required setting "${error.params.missingProperty}"`;
    default:
      return error.message ?? 'is not valid';
  }
}
