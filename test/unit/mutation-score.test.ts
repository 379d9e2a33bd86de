import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { mergeReports, run, score, survivors, tallies } from '../../scripts/mutation-score.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const A = 'test/fixtures/mutation/report-a.json';
const B = 'test/fixtures/mutation/report-b.json';

test('the score counts a timeout as caught and leaves errors and ignored mutants out', () => {
  assert.equal(
    score({ name: 'x', mutants: 9, killed: 2, timeout: 1, survived: 1, noCoverage: 0 }),
    75,
  );
  assert.equal(
    score({ name: 'x', mutants: 3, killed: 1, timeout: 0, survived: 1, noCoverage: 1 }),
    100 / 3,
  );
  assert.ok(
    Number.isNaN(
      score({ name: 'x', mutants: 1, killed: 0, timeout: 0, survived: 0, noCoverage: 0 }),
    ),
  );
});

test('one report: a table per directory with a total, and the survivors by file and line', () => {
  assert.equal(
    run([A], ROOT),
    [
      '| Files | Mutants | Killed | Timeout | Survived | No coverage | Score |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      '| `src/core` | 1 | 0 | 0 | 1 | 0 | 0.0 % |',
      '| `src/core/limiter` | 7 | 2 | 1 | 2 | 1 | 50.0 % |',
      '| **Total** | 8 | 2 | 1 | 3 | 1 | **42.9 %** |',
      '',
      'Surviving and uncovered mutants: 4',
      '',
      '| Where | Mutator | Replacement | Status |',
      '| --- | --- | --- | --- |',
      '| `src/core/clock.ts:12:3` | BooleanLiteral | `false` | survived |',
      '| `src/core/limiter/budget.ts:3:1` | LogicalOperator | `a \\|\\| b \\| c` | survived |',
      '| `src/core/limiter/budget.ts:7:20` | StringLiteral | `""` | no coverage |',
      '| `src/core/limiter/gcra.ts:60:7` | ConditionalExpression | `true` | survived |',
      '',
    ].join('\n'),
  );
});

test('--files gives a row per file', () => {
  const rows = run(['--files', A], ROOT).split('\n').slice(2, 6);
  assert.deepEqual(rows, [
    '| `src/core/clock.ts` | 1 | 0 | 0 | 1 | 0 | 0.0 % |',
    '| `src/core/limiter/budget.ts` | 3 | 0 | 0 | 1 | 1 | 0.0 % |',
    '| `src/core/limiter/gcra.ts` | 4 | 2 | 1 | 1 | 0 | 75.0 % |',
    '| **Total** | 8 | 2 | 1 | 3 | 1 | **42.9 %** |',
  ]);
});

test('a later report replaces the mutants of a file an earlier one measured', () => {
  const files = mergeReports(
    [
      JSON.parse(readFileSync(join(ROOT, A), 'utf8')),
      JSON.parse(readFileSync(join(ROOT, B), 'utf8')),
    ],
    ROOT,
  );
  const core = tallies(files, 'dir')[0];
  assert.deepEqual(core, {
    name: 'src/core',
    mutants: 2,
    killed: 1,
    timeout: 0,
    survived: 0,
    noCoverage: 0,
  });
  assert.deepEqual(
    survivors(files).map((s) => `${s.file}:${s.line}`),
    ['src/core/limiter/budget.ts:3', 'src/core/limiter/budget.ts:7', 'src/core/limiter/gcra.ts:60'],
  );
  assert.match(
    run([A, B], ROOT),
    /\| \*\*Total\*\* \| 9 \| 3 \| 1 \| 2 \| 1 \| \*\*57\.1 %\*\* \|/,
  );
});

test('absolute paths in a report are made relative to the root', () => {
  const files = mergeReports([{ files: { [join(ROOT, 'src/core/x.ts')]: { mutants: [] } } }], ROOT);
  assert.deepEqual([...files.keys()], ['src/core/x.ts']);
});

test('bad input is an error naming the file and what is wrong, and the command exits 2', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mutation-score-'));
  try {
    const notJson = join(dir, 'broken.json');
    writeFileSync(notJson, '{ "files": ');
    const noFiles = join(dir, 'other.json');
    writeFileSync(noFiles, '{ "schemaVersion": "2" }');
    assert.throws(
      () => run([notJson], ROOT),
      (e: Error) => e.message.startsWith(`${notJson}: `),
    );
    assert.throws(() => run([noFiles], ROOT), {
      message: `${noFiles}: not a Stryker JSON report: it has no "files" object`,
    });
    assert.throws(() => run([join(dir, 'absent.json')], ROOT), {
      message: `${join(dir, 'absent.json')}: cannot read it (ENOENT)`,
    });
    assert.throws(() => run([], ROOT), { message: /^usage: / });
    assert.throws(() => run(['--by-file', A], ROOT), { message: /^unknown option --by-file\n/ });

    const cli = spawnSync(process.execPath, ['scripts/mutation-score.ts', noFiles], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(cli.status, 2);
    assert.equal(cli.stdout, '');
    assert.equal(
      cli.stderr,
      `mutation-score: ${noFiles}: not a Stryker JSON report: it has no "files" object\n`,
    );
    const ok = spawnSync(process.execPath, ['scripts/mutation-score.ts', A], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(ok.status, 0);
    assert.equal(ok.stdout, run([A], ROOT));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
