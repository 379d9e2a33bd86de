/**
 * `sluice ips …`: IP addresses the gateway refuses. Safeguards block an IP on their own
 * (escalating 1h, 1d, 1w); an operator lists those blocks, adds one, or lifts one here.
 * Blocks live in the gateway's database, so they survive restarts, and a running
 * gateway picks up a change within its poll interval. Every change is written to the
 * audit trail as `cli:<user>`.
 */
import { notFound } from '../core/errors.ts';
import { formatDuration, parseDuration } from '../core/policy/units.ts';
import type { IpBlock } from '../core/records.ts';
import { canonicalIp } from '../gateway/client-ip.ts';
import { liftIpBlock } from '../records/ip-blocks.ts';
import { type CommandContext, RECORD_OPTIONS_HELP, table, usage } from './common.ts';
import type { CliIo } from './io.ts';
import { writeJson } from './json-output.ts';
import { type RecordSubcommand, runRecordCommand } from './record-command.ts';

const HELP = `usage: sluice ips <command> [options] [--config FILE] [--data DIR]

commands:
  list                  list blocked IPs: until when (or expired), why, reference, by whom
  block IP [--for DURATION] [--reason TEXT]
                        refuse every request from IP, for DURATION (30m, 1d, 1w…) or until lifted
  unblock IP [--reason TEXT]
                        lift the block of IP (a safeguard's or an operator's)

${RECORD_OPTIONS_HELP}`;

const OPTIONS = {
  for: { type: 'string' },
  reason: { type: 'string' },
  json: { type: 'boolean' },
} as const;

function checkIp(command: string, text: string | undefined): string {
  if (text === undefined) throw usage(`"sluice ips ${command}" takes one IP address`);
  const ip = canonicalIp(text.trim());
  if (ip !== undefined) return ip;
  const why = text.includes('/')
    ? 'blocks are per address; ranges are not supported'
    : text.includes('%')
      ? 'write it without the zone (%…)'
      : 'write one IPv4 or IPv6 address, for example 203.0.113.9 or 2001:db8::7';
  throw usage(`"${text}" is not an IP address: ${why}`);
}

/** Longer than this is "until lifted" in all but name (and past what a Date can hold). */
const MAX_FOR_MS = 100 * 366 * 86_400_000;

/** `--for`: a positive duration, or undefined for a block until lifted. */
function parseFor(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const parsed = parseDuration(text);
  if (!parsed.ok) throw usage(`--for: ${parsed.message}`);
  if (parsed.value <= 0) throw usage(`--for must be longer than 0, got "${text}"`);
  if (parsed.value > MAX_FOR_MS) {
    throw usage(
      `--for must be at most 100 years, got "${text}"; leave --for out to block until lifted`,
    );
  }
  return parsed.value;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The UNTIL column: when it ends, "until lifted", or that it is over. */
function untilText(block: IpBlock, now: number): string {
  if (block.until === undefined) return 'until lifted';
  return block.until <= now ? `expired ${iso(block.until)}` : iso(block.until);
}

/** For a sentence: "until lifted", "until <ISO>", "until <ISO> (expired)". */
function wasText(block: IpBlock, now: number): string {
  if (block.until === undefined) return 'until lifted';
  return `until ${iso(block.until)}${block.until <= now ? ' (expired)' : ''}`;
}

/** A block for machines: explicit nulls (JSON drops undefined) and whether it is over. */
function blockJson(block: IpBlock, now: number) {
  return {
    ip: block.ip,
    until: block.until ?? null,
    expired: block.until !== undefined && block.until <= now,
    createdAt: block.createdAt,
    reason: block.reason,
    reference: block.reference ?? null,
    actor: block.actor,
    // A key's behaviour earned it: other accounts' valid keys still pass (docs/incidents.md).
    earnedBy: block.earnedBy ?? null,
  };
}

/** Only one IP address: a second one is an unexpected argument. */
function oneIp(command: string, rest: readonly string[]): string {
  if (rest.length > 1) throw usage(`unexpected argument "${rest.at(-1)}"`);
  return checkIp(command, rest[0]);
}

const COMMANDS: Readonly<Record<string, RecordSubcommand<typeof OPTIONS>>> = {
  list: {
    accepts: [],
    check(rest) {
      if (rest.length > 0) throw usage(`unexpected argument "${rest.at(-1)}"`);
      return (ctx) => list(ctx);
    },
  },
  block: {
    accepts: ['for', 'reason'],
    creates: true,
    check(rest, values) {
      const ip = oneIp('block', rest);
      const forMs = parseFor(values.for);
      return (ctx) => block(ctx, ip, forMs, values.reason);
    },
  },
  unblock: {
    accepts: ['reason'],
    check(rest, values) {
      const ip = oneIp('unblock', rest);
      return (ctx) => unblock(ctx, ip, values.reason);
    },
  },
};

/** `sluice ips …`; returns the exit status. */
export function run(args: string[], io: CliIo): Promise<number> {
  return runRecordCommand('ips', args, io, { options: OPTIONS, help: HELP, commands: COMMANDS });
}

async function list(ctx: CommandContext) {
  const blocks = await ctx.store.listIpBlocks();
  if (ctx.json) {
    writeJson(
      ctx.io,
      blocks.map((b) => blockJson(b, ctx.now)),
    );
    return 0;
  }
  if (blocks.length === 0) {
    ctx.io.stdout.write('no blocked IPs\n');
    return 0;
  }
  const rows = blocks.map((b) => [
    b.ip,
    untilText(b, ctx.now),
    b.reference ?? '',
    b.actor,
    b.reason,
  ]);
  ctx.io.stdout.write(table(['ip', 'until', 'reference', 'by', 'reason'], rows));
  return 0;
}

async function block(
  ctx: CommandContext,
  ip: string,
  forMs: number | undefined,
  reason: string | undefined,
) {
  const old = (await ctx.store.listIpBlocks()).find((b) => b.ip === ip);
  const why = reason?.trim() || `blocked by ${ctx.actor}`;
  const next: IpBlock = {
    ip,
    until: forMs === undefined ? undefined : ctx.now + forMs,
    createdAt: ctx.now,
    reason: why,
    reference: undefined,
    actor: ctx.actor,
  };
  const until = next.until === undefined ? 'until lifted' : `until ${iso(next.until)}`;
  await ctx.store.putIpBlock(next);
  await ctx.store.appendAudit({
    at: ctx.now,
    actor: ctx.actor,
    action: 'block-ip',
    subject: { ip },
    // The audit entry has no field for the end; the reason carries it.
    reason: `${why} (${until})`,
    reference: undefined,
  });
  if (ctx.json) {
    writeJson(ctx.io, blockJson(next, ctx.now));
    return 0;
  }
  const was = old === undefined ? '' : ` (replaces a block ${wasText(old, ctx.now)})`;
  const length = forMs === undefined ? '' : ` (${formatDuration(forMs)})`;
  ctx.io.stdout.write(
    `Blocked IP ${ip} ${until}${length}: ${why}${was}\n` +
      'A running gateway applies this within its poll interval.\n',
  );
  return 0;
}

async function unblock(ctx: CommandContext, ip: string, reason: string | undefined) {
  const why = reason?.trim() || `unblocked by ${ctx.actor}`;
  const old = await liftIpBlock(ctx, { ip, actor: ctx.actor, reason: why });
  // Not found, as the admin API's 404 ip-not-blocked says it.
  if (old === undefined) throw notFound(`IP ${ip} is not blocked; nothing changed`);
  if (ctx.json) {
    writeJson(ctx.io, { ip, lifted: blockJson(old, ctx.now) });
  } else {
    const what = old.reference === undefined ? '' : ` for ${old.reference}`;
    ctx.io.stdout.write(
      `Unblocked IP ${ip} (was blocked ${wasText(old, ctx.now)}${what} by ${old.actor}): ${why}\n` +
        'A running gateway applies this within its poll interval.\n',
    );
  }
  return 0;
}
