/**
 * `sluice audit`: the audit trail, newest first — who changed which key, account or IP
 * block, when, why, and the incident behind it — as `GET /admin/audit` shows it, in the
 * one vocabulary of actions (docs/incidents.md).
 */
import { normalizeKeyId } from '../core/api-key.ts';
import type { AuditEntry, Subject } from '../core/records.ts';
import { parseCli, RECORD_OPTIONS_HELP, table, usage } from './common.ts';
import type { CliIo } from './io.ts';
import { writeJson } from './json-output.ts';
import { onRecords } from './record-command.ts';

const HELP = `usage: sluice audit [--key KEYID] [--limit N] [--json] [--config FILE] [--data DIR]

  the audit trail, newest first: when, who, action, subject, reference, why

  --key KEYID     only the entries of this key (any case)
  --limit N       how many entries (default 20, at most 1000)
${RECORD_OPTIONS_HELP.replace('options:\n', '')}`;

const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 1000;

/** `--limit`: a whole number from 1 to 1000. */
function parseLimit(text: string | undefined): number {
  if (text === undefined) return DEFAULT_LIMIT;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > MAX_LIMIT) {
    throw usage(`--limit must be a whole number from 1 to ${MAX_LIMIT}, got "${text}"`);
  }
  return n;
}

/** The subject of an entry in a few words: "key 7KQ4M9XT2B (acme)", "IP 203.0.113.9". */
function subjectText(s: Subject): string {
  if (s.keyId !== undefined) {
    return `key ${s.keyId}${s.accountId === undefined ? '' : ` (${s.accountId})`}`;
  }
  if (s.ip !== undefined) return `IP ${s.ip}`;
  return s.accountId === undefined ? '' : `account ${s.accountId}`;
}

/** `sluice audit …`; returns the exit status. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCli(
    args,
    { key: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' } },
    false,
  );
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 0) throw usage(`unexpected argument "${positionals[0]}"`);
  const limit = parseLimit(values.limit);
  const keyId = values.key === undefined ? undefined : normalizeKeyId(values.key.trim());
  if (values.key !== undefined && keyId === undefined) {
    throw usage(`--key: "${values.key}" is not a key id; they look like 7KQ4M9XT2B`);
  }
  return onRecords(values, io, { create: false }, async ({ store, json }) => {
    const entries = await store.listAudit({ limit, keyId });
    show(entries, json, io, keyId);
    return 0;
  });
}

function show(entries: AuditEntry[], json: boolean, io: CliIo, keyId: string | undefined) {
  if (json) {
    writeJson(io, entries);
    return;
  }
  if (entries.length === 0) {
    io.stdout.write(
      keyId === undefined ? 'no audit entries\n' : `no audit entries for key ${keyId}\n`,
    );
    return;
  }
  const rows = entries.map((e) => [
    new Date(e.at).toISOString(),
    e.actor,
    e.action,
    subjectText(e.subject),
    e.reference ?? '',
    e.reason,
  ]);
  io.stdout.write(table(['at', 'by', 'action', 'subject', 'reference', 'reason'], rows));
}
