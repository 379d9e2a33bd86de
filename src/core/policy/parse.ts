/**
 * Policy text (YAML) → compiled `Policy`. Pure: the caller reads the file.
 * The `yaml` package keeps every node's offset; a LineCounter turns offsets into
 * lines, so each problem the compiler reports by path is shown at its line.
 */
import { type Document, isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { type Problem, SluiceError } from '../errors.ts';
import { compileDocument, type Env, policyError } from './compile.ts';
import { formatPath, type PathProblem } from './problems.ts';
import type { Policy } from './types.ts';

/**
 * Parses and compiles a policy file's text. `source` names it in messages (a path);
 * `env` resolves `secretEnv` settings (pass `process.env` from the edge).
 * Throws `SLUICE_ERR_POLICY_YAML` for broken YAML and `SLUICE_ERR_POLICY_INVALID`
 * listing every mistake with its path and line.
 *
 * @example
 * parsePolicyText('ip:\n  warn: 50/min\n', 'policy.yaml').ip.warn; // { limit: 50, periodMs: 60000 }
 */
export function parsePolicyText(text: string, source: string, env: Env = {}): Policy {
  const lines = new LineCounter();
  // The core schema even under a `%YAML 1.1` line, and no YAML 1.1 tags: `!!binary`,
  // `!!timestamp`, `!!set` and `!!omap` would give a Buffer, a Date, a Set or a Map,
  // which the schema takes for mappings (a Buffer's methods listed as unknown settings).
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false,
    schema: 'core',
    resolveKnownTags: false,
  });
  if (doc.errors.length > 0) {
    throw yamlError(
      source,
      doc.errors.map((e) => {
        const { line, col } = lines.linePos(e.pos[0]);
        const near = /^["']?([^"':\n]*)/.exec(text.slice(e.pos[0]))?.[1].trim() ?? '';
        return { path: '', line, column: col, message: yamlMessage(e.code, near) };
      }),
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch (error) {
    throw yamlError(source, [{ path: '', message: (error as Error).message }]);
  }
  const { policy, problems } = compileDocument(data, source, env);
  if (policy !== undefined) return policy;
  const located = problems.map((p) => ({ path: formatPath(p.path), ...locate(doc, lines, p) }));
  located.sort(
    (a, b) => (a.line ?? Infinity) - (b.line ?? Infinity) || (a.column ?? 0) - (b.column ?? 0),
  );
  throw policyError(source, located);
}

function yamlError(source: string, problems: Problem[]): SluiceError {
  return new SluiceError('SLUICE_ERR_POLICY_YAML', `${source} is not valid YAML`, {
    problems,
    exitCode: 2,
  });
}

/** The yaml package's messages, reworded where a plainer one helps. */
function yamlMessage(code: string, near: string): string {
  switch (code) {
    case 'DUPLICATE_KEY':
      return `"${near}" is set twice in the same mapping`;
    case 'TAB_AS_INDENT':
      return 'a tab is used for indentation: indent with spaces';
    case 'MULTIPLE_DOCS':
      return 'the file holds several YAML documents (separated by ---); a policy is one';
    default:
      return YAML_MESSAGES[code] ?? 'this is not valid YAML here';
  }
}

const YAML_MESSAGES: Record<string, string> = {
  BAD_INDENT: 'the indentation is wrong here (or a bracket is not closed)',
  BLOCK_AS_IMPLICIT_KEY:
    'a mapping cannot start on the same line as its key: put it on the next line, indented',
  MISSING_CHAR: 'a closing quote or bracket is missing',
  MULTILINE_IMPLICIT_KEY: 'a key must be on one line (is a "key:" missing its colon above?)',
  UNEXPECTED_TOKEN: 'unexpected character here',
  BAD_SCALAR_START: 'a plain value cannot start with this character: put the value in quotes',
};

/** The line and column a problem points at, as far as its path exists in the file. */
function locate(doc: Document, lines: LineCounter, problem: PathProblem): Omit<Problem, 'path'> {
  let node: unknown = doc.contents;
  let key: unknown;
  let found = true;
  for (const segment of problem.path) {
    if (isAlias(node)) node = node.resolve(doc);
    const next = isMap(node)
      ? node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment))
      : undefined;
    if (next !== undefined) {
      key = next.key;
      node = next.value;
    } else if (isSeq(node) && node.items[Number(segment)] !== undefined) {
      key = undefined;
      node = node.items[Number(segment)];
    } else {
      found = false;
      break;
    }
  }
  // A value when it is one scalar; else its key, which is where the setting starts.
  const scalarValue = found && problem.at !== 'key' && isScalar(node) && node.value !== null;
  const target = scalarValue ? node : (key ?? node);
  const offset = (target as { range?: [number, number, number] } | null)?.range?.[0];
  const at = offset === undefined ? undefined : lines.linePos(offset);
  return at !== undefined
    ? { line: at.line, column: at.col, message: problem.message }
    : { message: problem.message };
}
