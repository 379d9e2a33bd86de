/**
 * `sluice keys …`: API keys and the accounts they belong to. A key is shown once when
 * created and only its hash is stored; revoke and reinstate go through the one key-status
 * service (records/key-status.ts), as the admin API's and the safeguards' changes do.
 * Every change is written to the audit trail as `cli:<user>`.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { generateApiKey } from '../core/api-key.ts';
import { notFound } from '../core/errors.ts';
import { parseKeyImport } from '../core/key-import-file.ts';
import type { Policy } from '../core/policy/types.ts';
import type { ApiKeyRecord } from '../core/records.ts';
import { importKeys } from '../records/key-import.ts';
import { changeKeyStatus } from '../records/key-status.ts';
import {
  accounts,
  checkAccountId,
  checkPlan,
  parseSize,
  setAccount,
  upsertAccount,
} from './accounts.ts';
import { type CommandContext, RECORD_OPTIONS_HELP, table, usage } from './common.ts';
import type { CliIo } from './io.ts';
import { writeJson } from './json-output.ts';
import { type RecordSubcommand, runRecordCommand } from './record-command.ts';

const HELP = `usage: sluice keys <command> [options] [--config FILE] [--data DIR]

commands:
  create --account ID [--size N] [--plan NAME]
                        create an API key (and the account if new); the key is shown once
  import FILE           import existing keys (CSV or JSON lines; docs/operations.md)
  list [--account ID]   list keys: id, account, status, since when, why (never secrets)
  revoke KEYID [--reason TEXT]      refuse the key from now on
  reinstate KEYID [--reason TEXT]   make a revoked or suspended key active again
  accounts              list accounts with size, plan and number of keys
  set-account ID [--size N] [--plan NAME]
                        record an account's size (seats, devices…) and plan

${RECORD_OPTIONS_HELP}`;

const OPTIONS = {
  account: { type: 'string' },
  size: { type: 'string' },
  plan: { type: 'string' },
  reason: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const iso = (ms: number) => new Date(ms).toISOString();

function statusText(key: ApiKeyRecord): string {
  return key.status === 'suspended' && key.suspendedUntil !== undefined
    ? `suspended until ${iso(key.suspendedUntil)}`
    : key.status;
}

/** "unexpected argument" unless the command got `want` arguments. */
function takes(command: string, rest: readonly string[], want: 0 | 1): void {
  if (rest.length === want) return;
  throw usage(
    want === 1
      ? `"sluice keys ${command}" takes one ${command === 'set-account' ? 'account id' : 'key id'}`
      : `unexpected argument "${rest[0]}"`,
  );
}

const COMMANDS: Readonly<Record<string, RecordSubcommand<typeof OPTIONS>>> = {
  import: {
    accepts: [],
    // Keys are imported before the first serve: this may create the database.
    creates: true,
    check(rest) {
      if (rest.length !== 1) throw usage('"sluice keys import" takes one file (CSV or JSON lines)');
      return (ctx, policy) => importFile(ctx, rest[0], policy);
    },
  },
  create: {
    accepts: ['account', 'size', 'plan'],
    // Keys are made before the first serve: this may create the database.
    creates: true,
    check(rest, values) {
      takes('create', rest, 0);
      const size = parseSize(values.size);
      const account = checkAccountId(values.account, '--account');
      return (ctx, policy) => create(ctx, account, size, checkPlan(values.plan, policy, ctx.io));
    },
  },
  list: {
    accepts: ['account'],
    check(rest, values) {
      takes('list', rest, 0);
      if (values.account !== undefined) checkAccountId(values.account, '--account');
      return (ctx) => list(ctx, values.account);
    },
  },
  revoke: {
    accepts: ['reason'],
    check(rest, values) {
      takes('revoke', rest, 1);
      return (ctx) => setStatus(ctx, rest[0], 'revoked', values.reason);
    },
  },
  reinstate: {
    accepts: ['reason'],
    check(rest, values) {
      takes('reinstate', rest, 1);
      return (ctx) => setStatus(ctx, rest[0], 'active', values.reason);
    },
  },
  accounts: {
    accepts: [],
    check(rest) {
      takes('accounts', rest, 0);
      return (ctx) => accounts(ctx);
    },
  },
  'set-account': {
    accepts: ['size', 'plan'],
    creates: true,
    check(rest, values) {
      takes('set-account', rest, 1);
      const size = parseSize(values.size);
      const id = checkAccountId(rest[0], 'the account id');
      if (size === undefined && values.plan === undefined)
        throw usage('set-account needs --size, --plan or both');
      return (ctx, policy) => setAccount(ctx, id, size, checkPlan(values.plan, policy, ctx.io));
    },
  },
};

/** `sluice keys …`; returns the exit status. */
export function run(args: string[], io: CliIo): Promise<number> {
  return runRecordCommand('keys', args, io, { options: OPTIONS, help: HELP, commands: COMMANDS });
}

async function create(
  ctx: CommandContext,
  accountId: string,
  size: number | undefined,
  plan: string | undefined,
) {
  const { account, created, changes } = await upsertAccount(ctx, accountId, size, plan);
  let generated = generateApiKey();
  // 50-bit ids: a clash is astronomically rare, but checking costs one lookup.
  while ((await ctx.store.getKey(generated.id)) !== undefined) generated = generateApiKey();
  // Only the hash is stored; `generated.secret` lives in this process until printed.
  await ctx.store.putKey({
    id: generated.id,
    accountId,
    hash: generated.hash,
    status: 'active',
    suspendedUntil: undefined,
    createdAt: ctx.now,
    updatedAt: ctx.now,
    reason: undefined,
  });
  await ctx.store.appendAudit({
    at: ctx.now,
    actor: ctx.actor,
    action: 'key-create',
    subject: { accountId, keyId: generated.id },
    reason: 'created with sluice keys create',
    reference: undefined,
  });
  if (ctx.json) {
    writeJson(ctx.io, {
      id: generated.id,
      key: generated.secret,
      account: { ...account, created },
    });
    return 0;
  }
  const accountLine = created
    ? `Created account ${accountId} (${changes.join(', ')}).\n`
    : changes.length > 0
      ? `Updated account ${accountId}: ${changes.join(', ')}.\n`
      : '';
  ctx.io.stdout.write(
    `${accountLine}Created API key ${generated.id} for account ${accountId}:\n\n  ${generated.secret}\n\n` +
      'This is the only time the key is shown: sluice stores only its hash and cannot show it again.\n' +
      'Copy it now into the integration’s secret store. Logs, incidents and support use the id only.\n',
  );
  return 0;
}

async function list(ctx: CommandContext, accountId: string | undefined) {
  const keys = await ctx.store.listKeys(accountId);
  if (ctx.json) {
    // Records carry the hash; a listing has no use for it.
    const out = keys.map(({ hash: _hash, ...k }) => k);
    writeJson(ctx.io, out);
    return 0;
  }
  if (keys.length === 0) {
    ctx.io.stdout.write(
      accountId === undefined ? 'no keys\n' : `no keys for account ${accountId}\n`,
    );
    return 0;
  }
  const rows = keys.map((k) => [
    k.id,
    k.accountId,
    statusText(k),
    iso(k.updatedAt),
    k.reason ?? '',
  ]);
  ctx.io.stdout.write(table(['key id', 'account', 'status', 'since', 'reason'], rows));
  return 0;
}

async function setStatus(
  ctx: CommandContext,
  typed: string,
  status: 'active' | 'revoked',
  reason: string | undefined,
) {
  const verb = status === 'revoked' ? 'revoked' : 'reinstated';
  const why = reason?.trim() || `${verb} by ${ctx.actor}`;
  const result = await changeKeyStatus(ctx, {
    keyId: typed,
    to: status,
    reason: why,
    actor: ctx.actor,
  });
  if (result.outcome === 'not-found') {
    throw notFound(
      `no API key with id "${typed}" in ${ctx.where} (\`sluice keys list\` shows the ids)`,
    );
  }
  const { key } = result;
  if (result.outcome === 'unchanged') {
    ctx.io.stdout.write(
      `API key ${key.id} is already ${status} (since ${iso(key.updatedAt)}); nothing changed\n`,
    );
    return 0;
  }
  if (ctx.json) {
    const { hash: _hash, ...shown } = key;
    writeJson(ctx.io, shown);
  } else {
    ctx.io.stdout.write(
      `API key ${key.id} of account ${key.accountId} ${verb} (was ${result.was.status}): ${why}\n` +
        'A running gateway applies this within its key poll interval.\n',
    );
  }
  return 0;
}

/** Imported keys listed by id in the text output; `--json` lists all. */
const SHOWN_IMPORTS = 20;

async function importFile(ctx: CommandContext, file: string, policy: Policy) {
  let text: string;
  try {
    text = readFileSync(resolve(ctx.io.cwd, file), 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw usage(
      `cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory' : code === 'EACCES' ? 'permission denied' : (error as Error).message}`,
    );
  }
  const lines = parseKeyImport(text, file);
  const result = await importKeys(ctx, lines, ctx.actor);
  for (const plan of result.plans) checkPlan(plan, policy, ctx.io);
  if (ctx.json) {
    writeJson(ctx.io, { ...result, file });
    return 0;
  }
  const { imported, unchanged } = result;
  if (imported.length === 0 && result.accountsUpdated.length === 0) {
    ctx.io.stdout.write(
      `Nothing imported: ${unchanged === 1 ? 'the key' : `all ${unchanged} keys`} of ${file} ${unchanged === 1 ? 'is' : 'are'} already there; nothing changed.\n`,
    );
    return 0;
  }
  const parts = [
    result.accountsCreated.length > 0
      ? `accounts created: ${result.accountsCreated.join(', ')}`
      : '',
    result.accountsUpdated.length > 0
      ? `accounts updated: ${result.accountsUpdated.join(', ')}`
      : '',
    unchanged > 0 ? `${unchanged} already there, unchanged` : '',
  ].filter(Boolean);
  ctx.io.stdout.write(
    `Imported ${imported.length} key${imported.length === 1 ? '' : 's'} from ${file}${parts.length > 0 ? ` (${parts.join('; ')})` : ''}.\n`,
  );
  if (imported.length > 0) {
    const rows = imported.slice(0, SHOWN_IMPORTS).map((k) => [String(k.line), k.id, k.account]);
    ctx.io.stdout.write(`\n${table(['line', 'key id', 'account'], rows)}`);
    if (imported.length > SHOWN_IMPORTS) {
      ctx.io.stdout.write(
        `… and ${imported.length - SHOWN_IMPORTS} more (\`--json\` or \`sluice keys list\` shows them)\n`,
      );
    }
    ctx.io.stdout.write(
      '\nOnly the keys\u2019 hashes are stored. A running gateway knows them within its key poll interval.\n',
    );
  }
  return 0;
}
