/**
 * `sluice incident CODE`: what support sees when a customer reads out a reference code.
 * Who (account, key id, IP — never a secret), which rule, when, how many requests, the
 * counters at the time, and the plain-language what / why / fix.
 */
import { notFound } from '../core/errors.ts';
import { DEFAULT_GAP_MS } from '../core/incident-runs.ts';
import type { Incident, Subject } from '../core/records.ts';
import { normalizeReference } from '../core/reference.ts';
import { findInJournals } from '../store/incident-journal.ts';
import { duration, explainIncident } from '../words/explain.ts';
import { parseCli, table, usage } from './common.ts';
import type { CliIo } from './io.ts';
import { writeJson } from './json-output.ts';
import { onRecords } from './record-command.ts';

const HELP = `usage: sluice incident CODE [--json] [--config FILE] [--data DIR]
       sluice incident --list [--limit N] [--json]      (or: sluice incidents …)

  CODE          a reference code as the customer read it: RL-7KQ4-M9XT, rl7kq4m9xt, 7KQ4M9XT…
  --list        the most recently active incidents, newest first
  --limit N     how many to list (default 20)
  --json        machine-readable output
  --config FILE policy file; its server.data names the database (default: built-in policy)
  --data DIR    directory of the database, overriding the policy
`;

const DEFAULT_LIMIT = 20;

/**
 * A run of refusals is ongoing while a further refusal would still join it. A safeguard's
 * incident is one action, taken once: it is neither (the refusals it leads to, of a
 * suspended key or a blocked IP, are incidents of their own).
 */
function statusOf(incident: Incident, now: number): 'ongoing' | 'ended' | 'action' {
  if (incident.rule.startsWith('safeguard-')) return 'action';
  return now - incident.endedAt <= DEFAULT_GAP_MS ? 'ongoing' : 'ended';
}

const STATUS_WORDS = {
  ongoing: 'ongoing: refusals are still coming',
  ended: 'ended',
  action: 'an action, taken once (refusals that follow it are incidents of their own)',
} as const;

/** "3 minutes ago", "just now". */
function ago(ms: number, now: number): string {
  const d = now - ms;
  if (Math.abs(d) < 1_000) return 'just now';
  return d > 0 ? `${duration(d)} ago` : `in ${duration(-d)}`;
}

function who(s: Subject): string {
  const parts = [
    s.accountId && `account ${s.accountId}`,
    s.keyId && `key ${s.keyId}`,
    s.ip && `IP ${s.ip}`,
  ].filter(Boolean);
  return parts.length ? parts.join(', ') : '(unidentified)';
}

function counters(c: Incident['counters']): string {
  const entries = Object.entries(c);
  return entries.length ? entries.map(([k, v]) => `${k} ${v}`).join(', ') : '(none recorded)';
}

/** `sluice incident …`; returns the exit status. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCli(args, {
    list: { type: 'boolean' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (values.list) {
    if (positionals.length > 0) throw usage('--list takes no reference code');
    const limit = values.limit === undefined ? DEFAULT_LIMIT : Number(values.limit);
    if (!/^\d+$/.test(values.limit ?? '20') || !Number.isSafeInteger(limit) || limit < 1) {
      throw usage(`--limit must be a whole number of 1 or more, got "${values.limit}"`);
    }
    return onRecords(values, io, { create: false }, async ({ store, now }) =>
      listIncidents(await store.listIncidents({ limit }), now, values.json, io),
    );
  }
  if (values.limit !== undefined) throw usage('--limit applies to --list');
  if (positionals.length !== 1) {
    io.stderr.write(HELP);
    return 2;
  }
  const typed = positionals[0];
  const reference = normalizeReference(typed);
  if (reference === undefined) {
    throw usage(`"${typed}" is not a reference code; they look like RL-7KQ4-M9XT`);
  }
  return onRecords(values, io, { create: false }, async ({ store, now, dataDir }) => {
    const stored = await store.getIncident(reference);
    // Not saved yet (the gateway flushes every 250 ms) or left by a crash before the
    // replay at the next start: the journal has every code handed out.
    const journaled = stored ?? findInJournals(dataDir, reference);
    if (journaled === undefined) {
      throw notFound(`no incident ${reference} (\`sluice incidents\` lists the recent ones)`);
    }
    showIncident(journaled, now, values.json, io, stored === undefined);
    return 0;
  });
}

function showIncident(
  incident: Incident,
  now: number,
  json: boolean | undefined,
  io: CliIo,
  fromJournal = false,
) {
  const status = statusOf(incident, now);
  const explanation = explainIncident(incident);
  if (json) {
    const extra = fromJournal ? { source: 'journal' } : {};
    writeJson(io, { ...incident, note: incident.note ?? null, status, explanation, ...extra });
    return;
  }
  const iso = (ms: number) => `${new Date(ms).toISOString()} (${ago(ms, now)})`;
  const lines: [string, string][] = [
    ['rule', incident.rule],
    ['status', STATUS_WORDS[status]],
    ['who', who(incident.subject)],
    ['started', iso(incident.startedAt)],
    [
      status === 'ongoing' ? 'last' : status === 'action' ? 'taken' : 'ended',
      iso(incident.endedAt),
    ],
    ['requests', incident.count.toLocaleString('en-US')],
    ['counters', counters(incident.counters)],
  ];
  if (incident.note) lines.push(['note', incident.note]);
  if (fromJournal) {
    lines.push(['saved', 'not yet: from the incident journal; later requests are not counted yet']);
  }
  io.stdout.write(
    `${incident.reference}  ${explanation.title}\n\n` +
      lines.map(([k, v]) => `  ${k.padEnd(9)} ${v}\n`).join('') +
      `\nWhat happened\n  ${explanation.what}\n` +
      `\nWhy\n  ${explanation.why}\n` +
      `\nWhat to change\n  ${explanation.fix}\n`,
  );
}

function listIncidents(incidents: Incident[], now: number, json: boolean | undefined, io: CliIo) {
  if (json) {
    writeJson(
      io,
      incidents.map((i) => ({ ...i, status: statusOf(i, now) })),
    );
    return 0;
  }
  if (incidents.length === 0) {
    io.stdout.write('no incidents\n');
    return 0;
  }
  const rows = incidents.map((i) => [
    i.reference,
    i.rule,
    who(i.subject),
    new Date(i.startedAt).toISOString(),
    statusOf(i, now) === 'ended' ? `ended ${ago(i.endedAt, now)}` : statusOf(i, now),
    i.count.toLocaleString('en-US'),
  ]);
  io.stdout.write(table(['reference', 'rule', 'who', 'started', 'status', 'requests'], rows));
  return 0;
}
