/**
 * `sluice check` as people run it: the real command (`bin/sluice.js`) in a child
 * process, its exit status and what it prints.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = 'test/fixtures/policy';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `sluice ARGS` from the project root, with a bounded time. */
function sluice(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const { SLUICE_TEST_WEBHOOK_SECRET: _drop, ...inherited } = process.env;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/sluice.js', ...args], {
      cwd: ROOT,
      env: { ...inherited, ...env },
      timeout: 30_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

test('a valid file: exit 0 and a table of its limits, without secrets', async () => {
  const run = await sluice(['check', `${FIXTURES}/valid-full.yaml`], {
    SLUICE_TEST_WEBHOOK_SECRET: 'never-print-me',
  });
  assert.equal(run.stderr, '');
  assert.equal(run.status, 0);
  const lines = run.stdout.split('\n');
  assert.equal(lines[0], `${FIXTURES}/valid-full.yaml: valid, no mistakes found.`);
  for (const expected of [
    '  warn         150/min  signalled and reported, never refused',
    '  block        300/min  answered 429',
    '  concurrency  8        requests held at once; one more is 429',
    '  shared egress: 192.0.2.0/24, 2001:db8::/32 (counted per IP and account; keyless: per IP)',
    '  basic       (30 + 0.5 × size) per min, within 30..300   10     5s         5       2            10     20s',
    '  search        POST      /api/*/search          public      5     10/min',
    '  2/w per account and dataset',
    'Off-hours (Europe/Paris)',
    '  afterAuthFailure     20 in 5m   block-ip  30m, 12h   -        dry run (records only)',
    '  https://ops.example.com/sluice  warning, suspension, revocation, block',
  ]) {
    assert.ok(lines.includes(expected), `missing line: ${expected}\n${run.stdout}`);
  }
  assert.ok(!run.stdout.includes('never-print-me'));
  assert.ok(!run.stdout.includes('inline-secret-value'));
});

test('a file with mistakes: exit 2 and every mistake with its path and line', async () => {
  const run = await sluice(['check', `${FIXTURES}/many-mistakes.yaml`]);
  assert.equal(run.status, 2);
  assert.equal(run.stdout, '');
  assert.equal(
    run.stderr,
    [
      `sluice: ${FIXTURES}/many-mistakes.yaml has 5 mistakes [SLUICE_ERR_POLICY_INVALID]`,
      '  - ip.warn, line 3: warn (300/min) must be lower than block (200/min): the warning comes before the block',
      '  - plans.standard.brust, line 6: unknown setting "brust" (did you mean "burst"?)',
      '  - plans.standard.maxDelay, line 7: "soon" is not a duration: write a number and a unit, for example 30s, 15m, 2h or 30d',
      '  - routes[0].class, line 11: must be one of: public, non-public, bulk, batch; got "fast"',
      '  - offHours.timeZone, line 13: "Mars/Olympus_Mons" is not an IANA time zone, for example America/New_York or Europe/Paris',
      '',
    ].join('\n'),
  );
});

test('--config FILE works like the positional FILE', async () => {
  const run = await sluice(['check', '--config', `${FIXTURES}/bad-time-zone.yaml`]);
  assert.equal(run.status, 2);
  assert.equal(
    run.stderr,
    `sluice: ${FIXTURES}/bad-time-zone.yaml has 1 mistake [SLUICE_ERR_POLICY_INVALID]\n` +
      '  - offHours.timeZone, line 3: "America/New_Yrok" is not an IANA time zone (did you mean "America/New_York"?)\n',
  );
});

test('broken YAML: exit 2 with the line', async () => {
  const run = await sluice(['check', `${FIXTURES}/yaml-syntax.yaml`]);
  assert.equal(run.status, 2);
  assert.equal(
    run.stderr,
    `sluice: ${FIXTURES}/yaml-syntax.yaml is not valid YAML [SLUICE_ERR_POLICY_YAML]\n` +
      '  - line 4: the indentation is wrong here (or a bracket is not closed)\n',
  );
});

test('secretEnv is read from the environment of the command', async () => {
  const file = `${FIXTURES}/missing-env-var.yaml`;
  const without = await sluice(['check', file]);
  assert.equal(without.status, 2);
  assert.match(without.stderr, /the environment variable SLUICE_TEST_UNSET_SECRET is not set/);
  const withIt = await sluice(['check', file], { SLUICE_TEST_UNSET_SECRET: 'set' });
  assert.equal(withIt.status, 0, withIt.stderr);
});

test('a missing file, two files, or no file', async () => {
  const missing = await sluice(['check', 'no/such/policy.yaml']);
  assert.equal(missing.status, 2);
  assert.equal(
    missing.stderr,
    'sluice: cannot read the policy file no/such/policy.yaml: there is no such file [SLUICE_ERR_POLICY_UNREADABLE]\n',
  );
  const two = await sluice(['check', 'a.yaml', '--config', 'b.yaml']);
  assert.equal(two.status, 2);
  assert.match(two.stderr, /two policy files given \(a\.yaml and --config b\.yaml\)/);
  const none = await sluice(['check']);
  assert.equal(none.status, 0);
  assert.match(none.stdout, /^No policy file given: this is the built-in default policy\./);
  assert.match(none.stdout, /\n {2}warn {9}100\/min /);
});

test('every fixture through the command in-process: exit 0 or 2, every problem printed', async () => {
  const files = readdirSync(new URL(`../../${FIXTURES}/`, import.meta.url)).filter((f) =>
    f.endsWith('.yaml'),
  );
  assert.ok(files.length > 40);
  for (const file of files) {
    let stdout = '';
    let stderr = '';
    const io = {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      env: { SLUICE_TEST_WEBHOOK_SECRET: 's' },
      cwd: ROOT,
    };
    const status = await main(['check', `${ROOT}${FIXTURES}/${file}`], io);
    if (file.startsWith('valid-')) {
      assert.equal(status, 0, `${file}: ${stderr}`);
      assert.match(stdout, /valid, no mistakes found\.\n\nPolicy: /);
    } else {
      assert.equal(status, 2, file);
      assert.equal(stdout, '', file);
      const [head, ...problems] = stderr.trimEnd().split('\n');
      assert.match(head, /^sluice: .* \[SLUICE_ERR_POLICY_(INVALID|YAML)\]$/, file);
      assert.ok(problems.length >= 1, file);
      for (const line of problems)
        assert.match(line, /^ {2}- (.+, )?line \d+: \S/, `${file}: ${line}`);
    }
  }
});

test('check shows the default plans a plans section keeps, and that they were merged by name', async () => {
  const run = await sluice(['check', `${FIXTURES}/valid-partial.yaml`]);
  assert.equal(run.status, 0, run.stderr);
  const lines = run.stdout.split('\n');
  const plan = (name: string) => lines.find((l) => l.startsWith(`  ${name} `));
  assert.match(plan('standard') ?? '', /\(60 \+ 2 × size\) per min, within 60\.\.600 +30 /);
  assert.match(plan('enterprise') ?? '', /\(120 \+ 4 × size\) per min/, run.stdout);
  assert.ok(
    lines.includes(
      '  enterprise: built in, not changed by the file (plans merge by name with the built-in ones)',
    ),
    run.stdout,
  );
});
