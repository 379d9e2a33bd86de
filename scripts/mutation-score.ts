/**
 * `node scripts/mutation-score.ts [--files] report.json…`: reads StrykerJS JSON reports
 * (mutation-testing-report-schema) and prints, in Markdown, a table of the mutants per
 * directory (or per file with `--files`) with a total row, then the surviving and
 * uncovered mutants, so TESTING.md's tables come from a command. Several reports (one per
 * chunk of a run) are read together; a file measured in more than one report takes the
 * later report's mutants, so a rerun of a chunk replaces the earlier one.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, relative } from 'node:path';

/** The statuses a mutant can end with in a Stryker report. */
export type MutantStatus =
  | 'Killed'
  | 'Survived'
  | 'Timeout'
  | 'NoCoverage'
  | 'RuntimeError'
  | 'CompileError'
  | 'Ignored'
  | 'Pending';

/** One mutant as the report holds it (the fields this script reads). */
export interface ReportMutant {
  readonly mutatorName: string;
  readonly replacement?: string;
  readonly status: MutantStatus;
  readonly location: { readonly start: { readonly line: number; readonly column: number } };
}

/** The part of a Stryker JSON report this script reads. */
export interface MutationReport {
  readonly files: Readonly<Record<string, { readonly mutants: readonly ReportMutant[] }>>;
}

/** Counts for one row of the table. */
export interface Tally {
  readonly name: string;
  mutants: number;
  killed: number;
  timeout: number;
  survived: number;
  noCoverage: number;
}

/** A mutant the tests did not notice (survived) or never ran (no coverage). */
export interface Survivor {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly mutator: string;
  readonly replacement: string;
  readonly status: 'Survived' | 'NoCoverage';
}

/**
 * The files of several reports in one map, later reports replacing earlier ones file by
 * file, with paths made relative to `root` (Stryker writes them relative already; an
 * absolute one is made relative).
 *
 * @example mergeReports([chunk1, chunk2], process.cwd()).get('src/core/clock.ts')
 */
export function mergeReports(
  reports: readonly MutationReport[],
  root: string,
): Map<string, readonly ReportMutant[]> {
  const files = new Map<string, readonly ReportMutant[]>();
  for (const report of reports) {
    if (report === null || typeof report !== 'object' || typeof report.files !== 'object') {
      throw new Error('not a Stryker JSON report: it has no "files" object');
    }
    for (const [path, file] of Object.entries(report.files)) {
      const name = isAbsolute(path) ? relative(root, path) : path;
      files.set(name.split('\\').join('/'), file.mutants);
    }
  }
  return files;
}

/**
 * The score of a row: (killed + timeout) / (killed + timeout + survived + no coverage),
 * in per cent; runtime and compile errors and ignored mutants are left out, as Stryker
 * does. NaN when nothing counts.
 *
 * @example score({ name: 'x', mutants: 4, killed: 2, timeout: 1, survived: 1, noCoverage: 0 }) // 75
 */
export function score(t: Tally): number {
  const detected = t.killed + t.timeout;
  return (100 * detected) / (detected + t.survived + t.noCoverage);
}

function emptyTally(name: string): Tally {
  return { name, mutants: 0, killed: 0, timeout: 0, survived: 0, noCoverage: 0 };
}

function add(t: Tally, status: MutantStatus): void {
  t.mutants++;
  if (status === 'Killed') t.killed++;
  else if (status === 'Timeout') t.timeout++;
  else if (status === 'Survived') t.survived++;
  else if (status === 'NoCoverage') t.noCoverage++;
}

/**
 * One row per group (the file's directory, or the file itself with `by: 'file'`), sorted
 * by name, and a total row last.
 *
 * @example tallies(mergeReports([report], root), 'dir') // [{ name: 'src/core/limiter', … }, { name: 'Total', … }]
 */
export function tallies(
  files: ReadonlyMap<string, readonly ReportMutant[]>,
  by: 'dir' | 'file',
): Tally[] {
  const groups = new Map<string, Tally>();
  const total = emptyTally('Total');
  for (const [file, mutants] of files) {
    const name = by === 'dir' ? dirname(file) : file;
    let group = groups.get(name);
    if (group === undefined) {
      group = emptyTally(name);
      groups.set(name, group);
    }
    for (const m of mutants) {
      add(group, m.status);
      add(total, m.status);
    }
  }
  const rows = [...groups.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  rows.push(total);
  return rows;
}

/**
 * The mutants that survived or had no coverage, by file, line and column.
 *
 * @example survivors(files)[0] // { file: 'src/core/clock.ts', line: 12, mutator: 'EqualityOperator', … }
 */
export function survivors(files: ReadonlyMap<string, readonly ReportMutant[]>): Survivor[] {
  const list: Survivor[] = [];
  for (const [file, mutants] of files) {
    for (const m of mutants) {
      if (m.status !== 'Survived' && m.status !== 'NoCoverage') continue;
      const { line, column } = m.location.start;
      list.push({
        file,
        line,
        column,
        mutator: m.mutatorName,
        replacement: m.replacement ?? '',
        status: m.status,
      });
    }
  }
  return list.sort((a, b) =>
    a.file !== b.file ? (a.file < b.file ? -1 : 1) : a.line - b.line || a.column - b.column,
  );
}

function percent(t: Tally): string {
  const s = score(t);
  return Number.isNaN(s) ? '–' : `${s.toFixed(1)} %`;
}

// Replacements are code: one line, pipes escaped so the Markdown table holds.
function cell(code: string): string {
  const line = code.replace(/\s+/g, ' ').trim();
  const short = line.length > 80 ? `${line.slice(0, 77)}…` : line;
  return `\`${short.replaceAll('|', '\\|').replaceAll('`', "'")}\``;
}

/**
 * The Markdown of the score table and the survivor list.
 *
 * @example markdown(mergeReports([report], root), 'dir') // '| Files | Mutants | Killed | …'
 */
export function markdown(
  files: ReadonlyMap<string, readonly ReportMutant[]>,
  by: 'dir' | 'file',
): string {
  const lines = [
    '| Files | Mutants | Killed | Timeout | Survived | No coverage | Score |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const t of tallies(files, by)) {
    const name = t.name === 'Total' ? '**Total**' : `\`${t.name}\``;
    const s = t.name === 'Total' ? `**${percent(t)}**` : percent(t);
    lines.push(
      `| ${name} | ${t.mutants} | ${t.killed} | ${t.timeout} | ${t.survived} | ${t.noCoverage} | ${s} |`,
    );
  }
  const left = survivors(files);
  lines.push('', `Surviving and uncovered mutants: ${left.length}`);
  if (left.length > 0) {
    lines.push('', '| Where | Mutator | Replacement | Status |', '| --- | --- | --- | --- |');
    for (const s of left) {
      const status = s.status === 'NoCoverage' ? 'no coverage' : 'survived';
      lines.push(
        `| \`${s.file}:${s.line}:${s.column}\` | ${s.mutator} | ${cell(s.replacement)} | ${status} |`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

const USAGE = 'usage: node scripts/mutation-score.ts [--files] report.json…';

/**
 * Reads the reports named in `args` and returns the Markdown, or throws an Error whose
 * message says which file is wrong and why.
 *
 * @example run(['reports/mutation/core-policy.json'], process.cwd())
 */
export function run(args: readonly string[], root: string): string {
  const by = args.includes('--files') ? 'file' : 'dir';
  const paths = args.filter((a) => a !== '--files');
  const unknown = paths.find((a) => a.startsWith('--'));
  if (unknown !== undefined) throw new Error(`unknown option ${unknown}\n${USAGE}`);
  if (paths.length === 0) throw new Error(USAGE);
  const reports = paths.map((path) => {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new Error(`${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? e})`);
    }
    try {
      const report = JSON.parse(text) as MutationReport;
      mergeReports([report], root);
      return report;
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}`);
    }
  });
  return markdown(mergeReports(reports, root), by);
}

if (import.meta.main) {
  try {
    process.stdout.write(run(process.argv.slice(2), process.cwd()));
  } catch (e) {
    process.stderr.write(`mutation-score: ${(e as Error).message}\n`);
    process.exitCode = 2;
  }
}
