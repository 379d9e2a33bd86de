/**
 * The runner of the record commands (src/cli/record-command.ts), in-process on a real
 * SQLite database: arguments are checked before anything is opened, the database is
 * closed once the work is done (also when it fails, also when it answers later), and
 * only commands that record something create the data directory.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CommandContext } from '../../src/cli/common.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { type RecordSubcommand, runRecordCommand } from '../../src/cli/record-command.ts';
import { isSluiceError } from '../../src/core/errors.ts';
import { tempDir } from '../helpers/gateway-process.ts';

const OPTIONS = { reason: { type: 'string' }, json: { type: 'boolean' } } as const;

function io(): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: { USER: 'tester' },
    cwd: tempDir(),
    out: () => out,
    err: () => err,
  };
}

/** A group whose commands hand their context out, to see what they got and whether it was closed. */
function group() {
  const seen: CommandContext[] = [];
  const commands: Record<string, RecordSubcommand<typeof OPTIONS>> = {
    later: {
      accepts: ['reason'],
      creates: true,
      check: (rest, values) => async (ctx) => {
        seen.push(ctx);
        // Answers on a later turn: the runner must not close the store before.
        await new Promise<void>((resolve) => setImmediate(resolve));
        ctx.io.stdout.write(`${rest.join(',')} ${values.reason} ${ctx.actor} ${ctx.json}\n`);
        return (await ctx.store.listKeys()).length;
      },
    },
    fails: {
      accepts: [],
      check: () => (ctx) => {
        seen.push(ctx);
        throw new Error('broken');
      },
    },
    picky: {
      accepts: [],
      check: (rest) => {
        throw new Error(`refused ${rest[0]} before opening`);
      },
    },
  };
  const run = (args: string[], out = io()) =>
    runRecordCommand('things', args, out, { options: OPTIONS, help: 'usage: things\n', commands });
  return { seen, run };
}

const closed = (ctx: CommandContext) =>
  assert.throws(() => ctx.store.listKeys(), /finalized|not open/);

test('a command runs in a context (cli:$USER, --json) and the database is closed after its last await', async () => {
  const data = join(tempDir(), 'new');
  const { seen, run } = group();
  const out = io();
  const code = await run(['later', 'a', 'b', '--reason', 'why', '--json', '--data', data], out);
  assert.equal(code, 0, 'no keys yet: its answer is the exit status');
  assert.equal(out.out(), 'a,b why cli:tester true\n');
  assert.ok(existsSync(data), 'a recording command creates the data directory');
  closed(seen[0]);
});

test('the database is closed when the work throws; the error reaches the caller', async () => {
  const data = tempDir();
  const { seen, run } = group();
  await assert.rejects(run(['fails', '--data', data]), /broken/);
  closed(seen[0]);
});

test('arguments are checked before anything is opened', async () => {
  const data = join(tempDir(), 'never');
  const { seen, run } = group();
  await assert.rejects(run(['picky', 'x', '--data', data]), /refused x before opening/);
  assert.equal(existsSync(data), false);
  assert.deepEqual(seen, []);
});

test('a reading command on a missing data directory is refused and creates nothing', async () => {
  const data = join(tempDir(), 'typo');
  const { run } = group();
  await assert.rejects(
    run(['fails', '--data', data]),
    (error) => isSluiceError(error) && error.code === 'SLUICE_ERR_DATA_DIR',
  );
  assert.equal(existsSync(data), false);
});

test('--help, an unknown command and an option the command does not take: exit 0, 2, usage error', async () => {
  const { run } = group();
  const help = io();
  assert.equal(await run(['--help'], help), 0);
  assert.equal(help.out(), 'usage: things\n');
  const unknown = io();
  assert.equal(await run(['nope'], unknown), 2);
  assert.match(unknown.err(), /^sluice things: unknown command "nope"/);
  await assert.rejects(
    run(['fails', '--reason', 'x']),
    (error) =>
      isSluiceError(error) && error.exitCode === 2 && /--reason does not apply/.test(error.message),
  );
});
