/**
 * `sluice report shadow [--since 24h]`: what shadow mode saw — per account, the requests
 * limits would have slowed or refused and the safeguard actions only recorded, with the
 * rules that would have acted most. The same report as `GET /admin/reports/shadow`.
 */
import { parseDuration } from '../core/policy/units.ts';
import { readShadowReport, type ShadowReport } from '../records/shadow-report.ts';
import { parseCli, RECORD_OPTIONS_HELP, table, usage } from './common.ts';
import type { CliIo } from './io.ts';
import { writeJson } from './json-output.ts';
import { onRecords } from './record-command.ts';

const HELP = `usage: sluice report shadow [--since DURATION] [--json] [--config FILE] [--data DIR]

  per account, what limits in shadow mode would have done: requests slowed, refused,
  and the suspensions, revocations and IP blocks safeguards only recorded

  --since DURATION  incidents active within this long before now (default 24h; e.g. 1h, 7d)
${RECORD_OPTIONS_HELP.replace('options:\n', '')}`;

const REPORTS = ['shadow'];

/** `--since`: a duration such as 24h or 7d. */
export function parseSince(text: string | undefined): number {
  if (text === undefined) return 86_400_000;
  const parsed = parseDuration(text);
  if (!parsed.ok) throw usage(`--since: ${parsed.message}`);
  if (parsed.value <= 0) throw usage('--since must be more than 0, for example 24h');
  return parsed.value;
}

/** `sluice report …`; returns the exit status. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCli(args, {
    since: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const [which, ...extra] = positionals;
  if (which === undefined) throw usage(`name a report: sluice report ${REPORTS.join(' | ')}`);
  if (!REPORTS.includes(which)) {
    throw usage(`unknown report "${which}"; there is: ${REPORTS.join(', ')}`);
  }
  if (extra.length > 0) throw usage(`unexpected argument "${extra[0]}"`);
  const sinceMs = parseSince(values.since);
  return onRecords(values, io, { create: false }, async ({ store, json, now }) => {
    const report = await readShadowReport(store, { since: now - sinceMs, now });
    show(report, json, io);
    return 0;
  });
}

function show(report: ShadowReport, json: boolean, io: CliIo) {
  if (json) {
    writeJson(io, report);
    return;
  }
  io.stdout.write(`shadow mode, ${report.since} to ${report.until}\n`);
  if (report.accounts.length === 0) {
    io.stdout.write('nothing would have been slowed, refused or acted on\n');
    return;
  }
  const rows = report.accounts.map((a) => [
    a.account,
    String(a.slowed),
    String(a.refused),
    String(a.suspended),
    String(a.revoked),
    String(a.blocked),
    a.topRules.map((r) => `${r.rule} (${r.would} ${r.count})`).join(', '),
  ]);
  io.stdout.write(
    table(['account', 'slowed', 'refused', 'suspended', 'revoked', 'blocked', 'top rules'], rows),
  );
}
