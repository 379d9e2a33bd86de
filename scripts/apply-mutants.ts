/**
 * `node scripts/apply-mutants.ts REPORT.json SRCFILE [--lines 10,20] -- TESTFILE…`:
 * checks, without Stryker, whether test files kill the mutants a Stryker run left alive.
 * Each surviving or uncovered mutant of SRCFILE in the JSON report (optionally only those
 * starting on the given lines) is applied alone to the report's own copy of the source,
 * in a scratch copy of the project, and the named test files run against it: `KILLED`
 * when they fail, `ALIVE` when they pass. This is how docs/mutants.md's "killed since"
 * is checked; the lines it prints are what the score's "killed since" column counts.
 *
 * The report's source is the one mutated, so a file changed since its run gives the
 * mutants of the old code: rerun Stryker on it, or remap the report first.
 */
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

interface Position {
  readonly line: number;
  readonly column: number;
}

interface Mutant {
  readonly mutatorName: string;
  readonly replacement: string;
  readonly status: string;
  readonly location: { readonly start: Position; readonly end: Position };
}

interface Report {
  readonly files: Readonly<
    Record<string, { readonly source: string; readonly mutants: readonly Mutant[] }>
  >;
}

const USAGE =
  'usage: node scripts/apply-mutants.ts REPORT.json SRCFILE [--lines 10,20] -- TESTFILE…';

function fail(message: string): never {
  process.stderr.write(`apply-mutants: ${message}\n${USAGE}\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
const dashes = args.indexOf('--');
if (dashes < 2 || dashes === args.length - 1)
  fail('a report, a source file and test files are needed');
const [reportPath, src] = args as [string, string];
const at = args.indexOf('--lines');
const lines =
  at >= 0 && at < dashes ? new Set((args[at + 1] ?? '').split(',').map(Number)) : undefined;
const tests = args.slice(dashes + 1);
const root = process.cwd();

let report: Report;
try {
  report = JSON.parse(readFileSync(reportPath, 'utf8')) as Report;
} catch (error) {
  fail(`cannot read ${reportPath}: ${(error as Error).message}`);
}
const file = report.files[src];
if (file === undefined) fail(`${reportPath} has no mutants of ${src}`);
if (file.source !== readFileSync(join(root, src), 'utf8')) {
  console.log(`# note: ${src} changed since the report; its mutants are those of the old code`);
}

// The scratch copy: the project's sources and tests, its node_modules linked.
const scratch = join('/tmp', `apply-mutants-${process.pid}`);
mkdirSync(scratch, { recursive: true });
for (const entry of [
  'src',
  'test',
  'package.json',
  'data',
  'docs',
  'README.md',
  'bin',
  'packages',
]) {
  if (existsSync(join(root, entry)))
    cpSync(join(root, entry), join(scratch, entry), { recursive: true });
}
symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'));

const lineStarts = [0];
for (let i = 0; i < file.source.length; i++) if (file.source[i] === '\n') lineStarts.push(i + 1);
const offset = (p: Position) => (lineStarts[p.line - 1] ?? 0) + p.column - 1;

const alive = file.mutants.filter(
  (m) =>
    (m.status === 'Survived' || m.status === 'NoCoverage') &&
    (lines === undefined || lines.has(m.location.start.line)),
);
let killed = 0;
try {
  for (const m of alive) {
    const mutated =
      file.source.slice(0, offset(m.location.start)) +
      m.replacement +
      file.source.slice(offset(m.location.end));
    writeFileSync(join(scratch, src), mutated);
    const run = spawnSync(process.execPath, ['--test', '--test-reporter=dot', ...tests], {
      cwd: scratch,
      timeout: 120_000,
      encoding: 'utf8',
    });
    const dead = run.status !== 0;
    if (dead) killed++;
    const where = `${src}:${m.location.start.line}:${m.location.start.column}`;
    const what = JSON.stringify(m.replacement).slice(0, 90);
    console.log(
      `${dead ? 'KILLED ' : 'ALIVE  '} ${where} ${m.mutatorName} ${what}${run.signal ? ' (timeout)' : ''}`,
    );
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
console.log(`# ${killed} of ${alive.length} killed`);
