/**
 * One runner for the commands that work on the gateway's records (`sluice keys`,
 * `sluice ips`, `sluice incident`): parse the command line, check the arguments before
 * anything is opened, open the database `--config` / `--data` name, run the command in a
 * context, close the database whatever happens. A wrong command line is a usage error
 * (exit 2, one sentence); other errors reach `main`, which prints them the same way for
 * every command.
 */
import type { ParseArgsOptionsConfig } from 'node:util';
import { systemClock } from '../core/clock.ts';
import type { MaybePromise } from '../core/maybe-async.ts';
import type { Policy } from '../core/policy/types.ts';
import {
  type CommandContext,
  openRecordsFromArgs,
  type parseCli,
  parseSubcommand,
} from './common.ts';
import type { CliIo } from './io.ts';

/** The work a command does on the records once its arguments are checked. */
export type RecordWork = (ctx: CommandContext, policy: Policy) => MaybePromise<number>;

/** The option values `parseCli` gives for the options `O`. */
export type OptionValues<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseCli<O>
>['values'];

/** One subcommand of a group (`revoke` of `sluice keys`). */
export interface RecordSubcommand<O extends ParseArgsOptionsConfig> {
  /** Options it takes, besides --config, --data, --json and --help. */
  readonly accepts: readonly (keyof O & string)[];
  /**
   * Whether it may create the database: only commands that record something (keys
   * before the first serve). For the others a missing data directory is a mistyped
   * `--data`, reported instead of answered from a new, empty database.
   */
  readonly creates?: boolean;
  /** Checks the arguments (a usage error when wrong) and returns the work to run. */
  check(rest: readonly string[], values: OptionValues<O>): RecordWork;
}

/**
 * `sluice <group> <command> …`: `--help`, an unknown command and an option the command
 * does not take are answered by `parseSubcommand`; the rest by the command's `check`,
 * then its work on the records.
 *
 * @example
 * export const run = (args: string[], io: CliIo) =>
 *   runRecordCommand('ips', args, io, { options: OPTIONS, help: HELP, commands: COMMANDS });
 */
export async function runRecordCommand<O extends ParseArgsOptionsConfig>(
  group: string,
  args: string[],
  io: CliIo,
  spec: {
    readonly options: O;
    readonly help: string;
    readonly commands: Readonly<Record<string, RecordSubcommand<O>>>;
  },
): Promise<number> {
  const accepts = Object.fromEntries(
    Object.entries(spec.commands).map(([name, c]) => [name, c.accepts]),
  );
  const parsed = parseSubcommand(group, args, io, { ...spec, accepts });
  if (typeof parsed === 'number') return parsed;
  const command = spec.commands[parsed.command];
  const work = command.check(parsed.rest, parsed.values);
  return onRecords(parsed.values, io, { create: command.creates === true }, work);
}

/**
 * Opens the records `values.config` / `values.data` name, runs `work` with a context
 * (now, `cli:$USER`, `--json`) and closes them, also when `work` throws.
 *
 * @example
 * return onRecords(values, io, { create: false }, (ctx) => list(ctx));
 */
export async function onRecords(
  values: { config?: unknown; data?: unknown; json?: unknown },
  io: CliIo,
  options: { create: boolean },
  work: RecordWork,
): Promise<number> {
  const { store, where, dataDir, policy } = await openRecordsFromArgs(values, io, options);
  try {
    const ctx: CommandContext = {
      store,
      where,
      dataDir,
      io,
      json: values.json === true,
      now: systemClock.now(),
      actor: `cli:${io.env.USER || 'unknown'}`,
    };
    return await work(ctx, policy);
  } finally {
    await store.close();
  }
}
