import { generateApiKey } from '../core/api-key.ts';
import { systemClock } from '../core/clock.ts';
import { SluiceError } from '../core/errors.ts';
import type { Policy } from '../core/policy/types.ts';
import type { Account, ApiKeyRecord, KeyStatus } from '../core/records.ts';
import { changeKeyStatus } from '../records/key-status.ts';
import {
  type CommandContext,
  openRecordsFromArgs,
  parseSubcommand,
  RECORD_OPTIONS_HELP,
  table,
  usage,
} from './common.ts';
import type { CliIo } from './io.ts';

const HELP = `usage: sluice keys <command> [options] [--config FILE] [--data DIR]

commands:
  create --account ID [--size N] [--plan NAME]
                        create an API key (and the account if new); the key is shown once
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

/** Options each command accepts, besides --config, --data, --json and --help. */
const ACCEPTS: Record<string, readonly string[]> = {
  create: ['account', 'size', 'plan'],
  list: ['account'],
  revoke: ['reason'],
  reinstate: ['reason'],
  accounts: [],
  'set-account': ['size', 'plan'],
};

/** Account ids travel to the upstream in a header: printable, no spaces. */
const ACCOUNT_ID = /^[\w.:@-]{1,128}$/;
/** Size of a new account when `--size` is not given. */
const DEFAULT_SIZE = 1;

function parseSize(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n)) {
    throw usage(`--size must be a whole number of 0 or more (seats, devices…), got "${text}"`);
  }
  return n;
}

function checkAccountId(id: string | undefined, option: string): string {
  if (id === undefined) throw usage(`${option} is required: the account the key belongs to`);
  if (!ACCOUNT_ID.test(id)) {
    throw usage(`${option} must be 1 to 128 letters, digits or . _ : @ -, got "${id}"`);
  }
  return id;
}

function checkPlan(plan: string | undefined, policy: Policy, io: CliIo): string | undefined {
  if (plan === undefined) return undefined;
  if (plan.trim() === '') throw usage('--plan is empty');
  if (!(plan in policy.plans)) {
    // A warning, not an error: the gateway may run with another policy file than this
    // command was given, and an unknown plan falls back to the default one there.
    io.stderr.write(
      `warning: plan "${plan}" is not in the policy ${policy.source} (plans: ${Object.keys(policy.plans).join(', ')}); the gateway uses "${policy.defaultPlan}" for it until it is added\n`,
    );
  }
  return plan;
}

const iso = (ms: number) => new Date(ms).toISOString();

function statusText(key: ApiKeyRecord): string {
  return key.status === 'suspended' && key.suspendedUntil !== undefined
    ? `suspended until ${iso(key.suspendedUntil)}`
    : key.status;
}

/** `sluice keys …`; returns the exit status. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const parsed = parseSubcommand('keys', args, io, {
    options: OPTIONS,
    help: HELP,
    accepts: ACCEPTS,
  });
  if (typeof parsed === 'number') return parsed;
  const { command, rest, values } = parsed;
  const wantsArg = ['revoke', 'reinstate', 'set-account'].includes(command);
  if (rest.length !== (wantsArg ? 1 : 0)) {
    throw usage(
      wantsArg
        ? `"sluice keys ${command}" takes one ${command === 'set-account' ? 'account id' : 'key id'}`
        : `unexpected argument "${rest[0]}"`,
    );
  }
  // Check the arguments before opening anything.
  const size = parseSize(values.size);
  const account = command === 'create' ? checkAccountId(values.account, '--account') : undefined;
  if (command === 'list' && values.account !== undefined)
    checkAccountId(values.account, '--account');
  if (command === 'set-account') {
    checkAccountId(rest[0], 'the account id');
    if (size === undefined && values.plan === undefined)
      throw usage('set-account needs --size, --plan or both');
  }

  // Only records that can start a database create one (keys before the first serve).
  const creates = command === 'create' || command === 'set-account';
  const { store, policy } = openRecordsFromArgs(values, io, { create: creates });
  try {
    const ctx: CommandContext = {
      store,
      io,
      json: values.json === true,
      now: systemClock.now(),
      actor: `cli:${io.env.USER || 'unknown'}`,
    };
    const plan = checkPlan(values.plan, policy, io);
    switch (command) {
      case 'create':
        return create(ctx, account!, size, plan);
      case 'list':
        return list(ctx, values.account);
      case 'revoke':
        return await setStatus(ctx, rest[0], 'revoked', values.reason);
      case 'reinstate':
        return await setStatus(ctx, rest[0], 'active', values.reason);
      case 'accounts':
        return accounts(ctx);
      default:
        return setAccount(ctx, rest[0], size, plan);
    }
  } finally {
    store.close();
  }
}

/** Creates or updates an account; returns it and what changed, for the audit trail. */
function upsertAccount(
  ctx: CommandContext,
  id: string,
  size: number | undefined,
  plan: string | undefined,
) {
  const old = ctx.store.getAccount(id);
  const next: Account = {
    id,
    size: size ?? old?.size ?? DEFAULT_SIZE,
    plan: plan ?? old?.plan ?? '',
    createdAt: old?.createdAt ?? ctx.now,
  };
  const changes: string[] = [];
  if (old === undefined) changes.push(`size ${next.size}`, `plan ${planText(next.plan)}`);
  else {
    if (old.size !== next.size) changes.push(`size ${old.size} → ${next.size}`);
    if (old.plan !== next.plan) changes.push(`plan ${planText(old.plan)} → ${planText(next.plan)}`);
  }
  if (changes.length > 0) {
    ctx.store.putAccount(next);
    ctx.store.appendAudit({
      at: ctx.now,
      actor: ctx.actor,
      action: old === undefined ? 'account-create' : 'account-update',
      subject: { accountId: id },
      reason: changes.join(', '),
      reference: undefined,
    });
  }
  return { account: next, created: old === undefined, changes };
}

/** An account without a plan uses the policy's default plan. */
const planText = (plan: string) => plan || '(default)';

function create(
  ctx: CommandContext,
  accountId: string,
  size: number | undefined,
  plan: string | undefined,
) {
  const { account, created, changes } = upsertAccount(ctx, accountId, size, plan);
  let generated = generateApiKey();
  // 50-bit ids: a clash is astronomically rare, but checking costs one lookup.
  while (ctx.store.getKey(generated.id) !== undefined) generated = generateApiKey();
  // Only the hash is stored; `generated.secret` lives in this process until printed.
  ctx.store.putKey({
    id: generated.id,
    accountId,
    hash: generated.hash,
    status: 'active',
    suspendedUntil: undefined,
    createdAt: ctx.now,
    updatedAt: ctx.now,
    reason: undefined,
  });
  ctx.store.appendAudit({
    at: ctx.now,
    actor: ctx.actor,
    action: 'key-create',
    subject: { accountId, keyId: generated.id },
    reason: 'created with sluice keys create',
    reference: undefined,
  });
  if (ctx.json) {
    ctx.io.stdout.write(
      `${JSON.stringify({ id: generated.id, key: generated.secret, account: { ...account, created } })}\n`,
    );
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

function list(ctx: CommandContext, accountId: string | undefined) {
  const keys = ctx.store.listKeys(accountId);
  if (ctx.json) {
    // Records carry the hash; a listing has no use for it.
    const out = keys.map(({ hash: _hash, ...k }) => k);
    ctx.io.stdout.write(`${JSON.stringify(out)}\n`);
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
    throw new SluiceError(
      'SLUICE_ERR_NOT_FOUND',
      `no API key with id "${typed}" in ${ctx.store.file} (\`sluice keys list\` shows the ids)`,
      { exitCode: 2 },
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
    ctx.io.stdout.write(`${JSON.stringify(shown)}\n`);
  } else {
    ctx.io.stdout.write(
      `API key ${key.id} of account ${key.accountId} ${verb} (was ${result.was.status}): ${why}\n` +
        'A running gateway applies this within its key poll interval.\n',
    );
  }
  return 0;
}

function accounts(ctx: CommandContext) {
  const all = ctx.store.listAccounts();
  const keys = ctx.store.listKeys();
  const count = (id: string, status?: KeyStatus) =>
    keys.filter((k) => k.accountId === id && (status === undefined || k.status === status)).length;
  if (ctx.json) {
    const out = all.map((a) => ({ ...a, keys: count(a.id), activeKeys: count(a.id, 'active') }));
    ctx.io.stdout.write(`${JSON.stringify(out)}\n`);
    return 0;
  }
  if (all.length === 0) {
    ctx.io.stdout.write('no accounts (`sluice keys create --account ID` makes one)\n');
    return 0;
  }
  const rows = all.map((a) => [
    a.id,
    String(a.size),
    planText(a.plan),
    `${count(a.id)} (${count(a.id, 'active')} active)`,
    iso(a.createdAt),
  ]);
  ctx.io.stdout.write(table(['account', 'size', 'plan', 'keys', 'created'], rows));
  return 0;
}

function setAccount(
  ctx: CommandContext,
  id: string,
  size: number | undefined,
  plan: string | undefined,
) {
  const { account, created, changes } = upsertAccount(ctx, id, size, plan);
  if (ctx.json) {
    ctx.io.stdout.write(`${JSON.stringify({ ...account, created })}\n`);
  } else if (created) {
    ctx.io.stdout.write(`Created account ${id} (${changes.join(', ')}).\n`);
  } else {
    ctx.io.stdout.write(
      changes.length > 0
        ? `Updated account ${id}: ${changes.join(', ')}.\n`
        : `Account ${id} unchanged.\n`,
    );
  }
  return 0;
}
