/**
 * The accounts of `sluice keys`: checking account ids, sizes and plans as typed,
 * creating or updating an account (audited), and the `accounts` and `set-account`
 * commands. `sluice keys create` creates the account of a new key here too.
 */
import { defaultPolicy } from '../core/policy/built-in-policy.ts';
import type { Policy } from '../core/policy/types.ts';
import type { Account, KeyStatus } from '../core/records.ts';
import { type CommandContext, table, usage } from './common.ts';
import type { CliIo } from './io.ts';
import { writeJson } from './json-output.ts';

/** Account ids travel to the upstream in a header: printable, no spaces. */
const ACCOUNT_ID = /^[\w.:@-]{1,128}$/;
/** Size of a new account when `--size` is not given. */
const DEFAULT_SIZE = 1;

/**
 * `--size`: a whole number of 0 or more, or undefined when not given.
 *
 * @example
 * parseSize('12'); // 12
 */
export function parseSize(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n)) {
    throw usage(`--size must be a whole number of 0 or more (seats, devices…), got "${text}"`);
  }
  return n;
}

/**
 * An account id as typed (`--account`, or `set-account`'s argument); `option` names it
 * in the error.
 *
 * @example
 * checkAccountId(values.account, '--account'); // 'acme'
 */
export function checkAccountId(id: string | undefined, option: string): string {
  if (id === undefined) throw usage(`${option} is required: the account the key belongs to`);
  if (!ACCOUNT_ID.test(id)) {
    throw usage(`${option} must be 1 to 128 letters, digits or . _ : @ -, got "${id}"`);
  }
  return id;
}

/**
 * `--plan`: refused when empty, warned about when the policy file has no such plan.
 * Without `--config` the gateway's policy is not known here: a plan that is not
 * built in is noted as unchecked, not called unknown.
 *
 * @example
 * checkPlan('standard', policy, io); // 'standard'
 */
export function checkPlan(plan: string | undefined, policy: Policy, io: CliIo): string | undefined {
  if (plan === undefined) return undefined;
  if (plan.trim() === '') throw usage('--plan is empty');
  if (!(plan in policy.plans) && policy.source === defaultPolicy().source) {
    io.stderr.write(
      `note: plan "${plan}" is not checked: give --config FILE (the gateway's policy) to check it against that policy's plans; the built-in policy has ${Object.keys(policy.plans).join(', ')}\n`,
    );
  } else if (!(plan in policy.plans)) {
    // A warning, not an error: the gateway may run with another policy file than this
    // command was given, and an unknown plan falls back to the default one there.
    io.stderr.write(
      `warning: plan "${plan}" is not in the policy ${policy.source} (plans: ${Object.keys(policy.plans).join(', ')}); the gateway uses "${policy.defaultPlan}" for it until it is added\n`,
    );
  }
  return plan;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Creates or updates an account; returns it and what changed, for the audit trail.
 *
 * @example
 * upsertAccount(ctx, 'acme', 12, 'standard'); // { account, created: true, changes: ['size 12', 'plan standard'] }
 */
export async function upsertAccount(
  ctx: CommandContext,
  id: string,
  size: number | undefined,
  plan: string | undefined,
) {
  const old = await ctx.store.getAccount(id);
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
    await ctx.store.putAccount(next);
    await ctx.store.appendAudit({
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

/** An account without a plan uses the policy's default plan: `planText('')` is `(default)`. */
export const planText = (plan: string) => plan || '(default)';

/**
 * `sluice keys accounts`: every account with its size, plan and keys.
 *
 * @example
 * accounts(ctx); // prints the table, returns 0
 */
export async function accounts(ctx: CommandContext) {
  const all = await ctx.store.listAccounts();
  const keys = await ctx.store.listKeys();
  const count = (id: string, status?: KeyStatus) =>
    keys.filter((k) => k.accountId === id && (status === undefined || k.status === status)).length;
  if (ctx.json) {
    const out = all.map((a) => ({ ...a, keys: count(a.id), activeKeys: count(a.id, 'active') }));
    writeJson(ctx.io, out);
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

/**
 * `sluice keys set-account ID`: records an account's size or plan.
 *
 * @example
 * setAccount(ctx, 'acme', 40, undefined); // "Updated account acme: size 12 → 40."
 */
export async function setAccount(
  ctx: CommandContext,
  id: string,
  size: number | undefined,
  plan: string | undefined,
) {
  const { account, created, changes } = await upsertAccount(ctx, id, size, plan);
  if (ctx.json) {
    writeJson(ctx.io, { ...account, created });
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
