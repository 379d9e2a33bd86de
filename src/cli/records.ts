/**
 * `sluice records copy --from DIR`: carries a node's records (its `sluice.db`) into the
 * records the policy names, typically Redis when a standalone gateway becomes one of
 * several nodes (docs/operations.md, "Moving a standalone node's records to Redis").
 * Planned, then written: conflicts refuse the whole copy; copying twice changes nothing.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import {
  type CopyKind,
  type CopyPlan,
  copyConflict,
  planCopy,
  writeCopy,
} from '../records/copy-records.ts';
import { DB_FILE, openSqliteRecordStore } from '../store/sqlite-record-store.ts';
import { type CommandContext, RECORD_OPTIONS_HELP, usage } from './common.ts';
import type { CliIo } from './io.ts';
import { writeJson } from './json-output.ts';
import { type RecordSubcommand, runRecordCommand } from './record-command.ts';

const HELP = `usage: sluice records copy --from DIR [--dry-run] [--config FILE] [--data DIR]

commands:
  copy --from DIR       copy the records of the database in DIR (a node's --data, or its
                        sluice.db) into the records the policy names (store.redis: Redis,
                        shared by every node): accounts, keys with their status, IP blocks,
                        incidents, the audit trail and the accounts' bulk exports.
                        Stop the gateway that uses DIR first. What the target already has
                        is left alone; a conflict (a key id or key held for something else,
                        an account with another plan or size) copies nothing.
  --dry-run             say what would be copied, copy nothing

${RECORD_OPTIONS_HELP}`;

const OPTIONS = {
  from: { type: 'string' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

/** Each kind of record, in the words of the report: one, many. */
const KINDS: readonly [CopyKind, string, string][] = [
  ['accounts', 'account', 'accounts'],
  ['keys', 'key', 'keys'],
  ['ipBlocks', 'IP block', 'IP blocks'],
  ['incidents', 'incident', 'incidents'],
  ['audit', 'audit entry', 'audit entries'],
  ['bulkExports', 'bulk export', 'bulk exports'],
];

const COMMANDS: Readonly<Record<string, RecordSubcommand<typeof OPTIONS>>> = {
  copy: {
    accepts: ['from', 'dry-run'],
    // The target may be a new data directory (copying one node's database to another).
    creates: true,
    check(rest, values) {
      if (rest.length > 0) throw usage(`unexpected argument "${rest[0]}"`);
      if (values.from === undefined || values.from === '') {
        throw usage('"sluice records copy" needs --from DIR, the data directory to copy from');
      }
      const from = values.from;
      return (ctx) => copy(ctx, from, values['dry-run'] === true);
    },
  },
};

/** `sluice records …`; returns the exit status. */
export function run(args: string[], io: CliIo): Promise<number> {
  return runRecordCommand('records', args, io, {
    options: OPTIONS,
    help: HELP,
    commands: COMMANDS,
  });
}

/** The data directory `--from` names: the directory, or the directory of its sluice.db. */
function sourceDir(ctx: CommandContext, from: string): string {
  const path = resolve(ctx.io.cwd, from);
  const dir = basename(path) === DB_FILE ? dirname(path) : path;
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw usage(`--from ${from}: no such directory`);
  }
  if (!existsSync(join(dir, DB_FILE))) {
    throw usage(`--from ${from}: no ${DB_FILE} in it (a node's data directory has one)`);
  }
  if (join(dir, DB_FILE) === ctx.where) {
    throw usage(`--from ${from}: that is the target itself (${ctx.where})`);
  }
  return dir;
}

async function copy(ctx: CommandContext, from: string, dryRun: boolean): Promise<number> {
  const source = openSqliteRecordStore(sourceDir(ctx, from), { create: false });
  try {
    const plan = await planCopy(source, ctx.store, ctx.now);
    if (plan.conflicts.length > 0) throw copyConflict(plan.conflicts);
    if (!dryRun) await writeCopy(ctx.store, plan);
    report(ctx, plan, source.file, dryRun);
    return 0;
  } finally {
    source.close();
  }
}

function counts(plan: CopyPlan): Record<CopyKind, number> {
  return {
    accounts: plan.accounts.length,
    keys: plan.newKeys.length + plan.newerStatus.length,
    ipBlocks: plan.ipBlocks.length,
    incidents: plan.incidents.length,
    audit: plan.audit.length,
    bulkExports: plan.bulkExports.length,
  };
}

function report(ctx: CommandContext, plan: CopyPlan, from: string, dryRun: boolean): void {
  const copied = counts(plan);
  if (ctx.json) {
    writeJson(ctx.io, { from, to: ctx.where, dryRun, copied, unchanged: plan.unchanged });
    return;
  }
  const list = (n: Record<CopyKind, number>) =>
    KINDS.filter(([k]) => n[k] > 0)
      .map(([k, one, many]) => `${n[k]} ${n[k] === 1 ? one : many}`)
      .join(', ');
  const done = list(copied);
  const there = list(plan.unchanged);
  const verb = dryRun ? 'Would copy' : 'Copied';
  ctx.io.stdout.write(
    done === ''
      ? `Nothing to copy from ${from}: ${ctx.where} already has all of it${there === '' ? '' : ` (${there})`}.\n`
      : `${verb} from ${from} into ${ctx.where}: ${done}.${there === '' ? '' : ` Already there: ${there}.`}\n`,
  );
  if (plan.newerStatus.length > 0) {
    ctx.io.stdout.write(
      `${plan.newerStatus.length} of the keys were already there with an older status, now the source's.\n`,
    );
  }
}
