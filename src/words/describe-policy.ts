/**
 * The readable summary `sluice check` prints: every effective limit, aligned in
 * tables, in the words of the policy file. Webhook secrets are never shown.
 */
import { isDeepStrictEqual } from 'node:util';
import { defaultPolicy } from '../core/policy/built-in-policy.ts';
import { redisTarget } from '../core/policy/redis-target.ts';
import type { Plan, Policy, Rate, SafeguardRule, WeeklyWindow } from '../core/policy/types.ts';
import { formatDuration, formatRate, formatSize } from '../core/policy/units.ts';

/** Pads columns to a common width; the last column is not padded. */
function table(rows: readonly (readonly string[])[], indent = '  '): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  }
  return rows.map((row) =>
    (
      indent +
      row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')
    ).trimEnd(),
  );
}

/**
 * Under a policy file's plans: the built-in plans it leaves as they are, since a
 * `plans` section merges by name and a newcomer may expect it to replace them.
 *
 * @example
 * keptPlans(parsePolicyText('plans:\n  standard: { burst: 30 }\n', 'p.yaml'));
 * // ['  enterprise: built in, not changed by the file (plans merge by name with the built-in ones)']
 */
function keptPlans(policy: Policy): string[] {
  const builtIn = defaultPolicy();
  if (policy.source === builtIn.source) return [];
  const kept = Object.keys(builtIn.plans).filter((name) =>
    isDeepStrictEqual(policy.plans[name], builtIn.plans[name]),
  );
  if (kept.length === 0) return [];
  return [
    `  ${kept.join(', ')}: built in, not changed by the file (plans merge by name with the built-in ones)`,
  ];
}

/** A number without float noise: 0.5, 33.3333. */
function num(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(6)));
}

/** `per min`, `per 30d`: the period of a rate, for formulas. */
function per(periodMs: number): string {
  return `per ${formatRate({ limit: 1, periodMs }).slice(2)}`;
}

function planFormula(plan: Plan): string {
  const p = plan.base.periodMs;
  return `(${num(plan.base.limit)} + ${num(plan.perUnit.limit)} × size) ${per(p)}, within ${num(plan.min.limit)}..${num(plan.max.limit)}`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const hhmm = (minute: number) =>
  `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;

/** Weekly windows, with the seven of a `daily` window folded back into one line. */
function windowLines(windows: readonly WeeklyWindow[]): string[] {
  const groups = new Map<string, WeeklyWindow[]>();
  for (const w of windows) {
    const key = `${w.fromMinute}/${w.toMinute}/${(w.toDay - w.fromDay + 7) % 7}`;
    groups.set(key, [...(groups.get(key) ?? []), w]);
  }
  const lines: string[] = [];
  const done = new Set<string>();
  for (const w of windows) {
    const key = `${w.fromMinute}/${w.toMinute}/${(w.toDay - w.fromDay + 7) % 7}`;
    const group = groups.get(key)!;
    if (new Set(group.map((g) => g.fromDay)).size === 7) {
      if (!done.has(key)) lines.push(`every day ${hhmm(w.fromMinute)} – ${hhmm(w.toMinute)}`);
      done.add(key);
    } else {
      lines.push(`${DAYS[w.fromDay]} ${hhmm(w.fromMinute)} – ${DAYS[w.toDay]} ${hhmm(w.toMinute)}`);
    }
  }
  return lines.length === 0 ? ['none'] : lines;
}

function ruleRow(name: string, rule: SafeguardRule): string[] {
  const mode = !rule.enabled ? 'off' : rule.dryRun ? 'dry run (records only)' : 'enforced';
  return [
    name,
    `${rule.threshold} in ${formatDuration(rule.windowMs)}`,
    rule.action,
    rule.durationsMs.length === 0 ? '-' : rule.durationsMs.map(formatDuration).join(', '),
    rule.revokeAfter === undefined ? '-' : `after ${rule.revokeAfter}`,
    mode,
  ];
}

const rateOrDash = (rate: Rate | undefined) => (rate === undefined ? '-' : formatRate(rate));

/**
 * Describes a compiled policy as aligned plain-text tables.
 *
 * @example
 * process.stdout.write(describePolicy(defaultPolicy()));
 */
export function describePolicy(policy: Policy): string {
  const { server, ip, offHours, safeguards } = policy;
  const out: string[] = [`Policy: ${policy.source}`, '', describeMode(policy), '', 'Server'];
  const listen = server.listen.host.includes(':') ? `[${server.listen.host}]` : server.listen.host;
  out.push(
    ...table([
      ['listen', `${listen}:${server.listen.port}`],
      ['upstream', server.upstream ?? 'not set (sluice serve needs --upstream, or --demo)'],
      ['data directory', server.dataDir],
      [
        'trusted proxies',
        server.trustedProxies.length === 0
          ? 'none (X-Forwarded-For and Forwarded are ignored)'
          : server.trustedProxies.join(', '),
      ],
      ['store', describeStore(policy)],
      ['upstream timeout', formatDuration(server.upstreamTimeoutMs)],
      ['upstream pool', `${server.upstreamConnections} connections`],
      [
        'threads',
        server.threads === 1
          ? '1 (no worker threads)'
          : `${server.threads === 'auto' ? 'one per core' : server.threads} worker threads, one set of limits`,
      ],
      ['request timeout', `${formatDuration(server.requestTimeoutMs)} (request and body: 408)`],
      ['buffered body', `up to ${formatSize(server.bufferBodyBytes)} read whole before forwarding`],
      [
        'route paths',
        server.caseSensitiveRoutes
          ? 'matched with their case (/API/Reports is not /api/reports)'
          : 'matched ignoring case (/API/Reports is /api/reports)',
      ],
      [
        'unauthenticated',
        server.unauthenticated === 'refuse'
          ? 'refuse (no key or an unknown key: 401)'
          : 'ip-only (no key or an unknown key: per-IP limits only)',
      ],
      [
        'keyless at once',
        `${server.unauthenticatedConcurrency} requests without a key, all IPs together: then 429`,
      ],
      [
        'identity headers',
        `${server.identityHeaders.account} (account), ${server.identityHeaders.key} (key id)`,
      ],
      [
        'host to upstream',
        server.preserveHost ? "the client's (preserveHost)" : "the upstream's own",
      ],
      [
        'upstream URLs',
        `Location, Content-Location and Link moved to ${server.publicUrl ?? 'the origin the client used'}`,
      ],
      [
        'X-RateLimit-*',
        server.legacyRateLimitHeaders ? 'sent beside RateLimit' : 'not sent (RateLimit only)',
      ],
    ]),
  );

  out.push('', 'Per client IP');
  out.push(
    ...table([
      ['warn', formatRate(ip.warn), 'signalled and reported, never refused'],
      ['block', formatRate(ip.block), 'answered 429'],
      ['concurrency', String(ip.concurrency), 'requests held at once; one more is 429'],
    ]),
  );
  // Below the table: a list of ranges would stretch its value column.
  if (ip.sharedEgress.length > 0) {
    out.push(
      `  shared egress: ${ip.sharedEgress.join(', ')} (counted per IP and account; keyless: per IP)`,
    );
  }

  out.push(
    '',
    `Plans (default: ${policy.defaultPlan}; size = seats, devices… recorded per account)`,
  );
  out.push(
    ...table([
      [
        'plan',
        'rate per account',
        'burst',
        'max delay',
        'slowed',
        'concurrency',
        'queue',
        'queue timeout',
      ],
      ...Object.values(policy.plans).map((p) => [
        p.name,
        planFormula(p),
        String(p.burst),
        formatDuration(p.maxDelayMs),
        String(p.maxSlowed),
        String(p.concurrency),
        String(p.queue),
        formatDuration(p.queueTimeoutMs),
      ]),
    ]),
  );

  out.push(...keptPlans(policy));
  const ownModes = Object.values(policy.plans).filter((p) => p.mode && p.mode !== policy.mode);
  if (ownModes.length > 0) {
    out.push(
      `  own mode (not the policy's): ${ownModes.map((p) => `${p.name} ${p.mode}`).join(', ')}`,
    );
  }

  out.push('', 'Routes (first match wins)');
  if (policy.routes.length === 0) out.push('  none: every request counts as public, cost 1');
  else {
    out.push(
      ...table([
        ['name', 'method', 'path', 'class', 'cost', 'rate', 'notes'],
        ...policy.routes.map((r) => {
          const notes = [
            ...r.query.map((q) => `only when ${q.param} is ${q.present ? 'present' : 'absent'}`),
            ...(r.class === 'bulk'
              ? [r.dataset.startsWith(':') ? `dataset from ${r.dataset}` : `dataset ${r.dataset}`]
              : []),
            ...(r.mode === undefined ? [] : [`mode ${r.mode}`]),
          ];
          return [
            r.name,
            r.methods.length === 0 ? 'any' : r.methods.join(','),
            r.path,
            r.class,
            String(r.cost),
            rateOrDash(r.rate),
            notes.join('; '),
          ];
        }),
      ]),
    );
  }

  out.push('', 'Bulk exports', `  ${formatRate(policy.bulk.allow)} per account and dataset`);

  out.push('', `Off-hours (${offHours.timeZone})`);
  const [first, ...rest] = windowLines(offHours.windows);
  out.push(
    ...table([
      ['windows', first],
      ...rest.map((line) => ['', line]),
      ['batch budgets', `× ${num(offHours.batchMultiplier)} inside the windows`],
      ['batch routes', offHours.confineBatch ? 'only inside the windows' : 'allowed at any time'],
    ]),
  );

  out.push('', 'Safeguards');
  out.push(
    ...table([
      ['rule', 'trigger', 'action', 'durations', 'revoke', 'mode'],
      ruleRow('afterAuthFailure', safeguards.afterAuthFailure),
      ruleRow('ignoring429', safeguards.ignoring429),
      ruleRow('malformedStorm', safeguards.malformedStorm),
      ruleRow('nonPublicAutomation', safeguards.nonPublicAutomation),
    ]),
  );

  out.push('', 'Webhooks');
  if (policy.webhooks.length === 0) out.push('  none');
  else out.push(...table(policy.webhooks.map((w) => [w.url, w.events.join(', ')])));

  out.push(
    '',
    'Interactive sessions',
    `  cookie ${policy.interactive.cookie}: callers with it and no API key are people in the app`,
  );
  out.push('', 'Identity', ...describeIdentity(policy));
  return `${out.join('\n')}\n`;
}

/**
 * Where the limit counters and the records live (`store`).
 *
 * @example
 * describeStore(policy); // 'memory (limits in this process, records in the data directory)'
 */
function describeStore(policy: Policy): string {
  const store = policy.store;
  if (store.kind === 'memory')
    return 'memory (limits in this process, records in the data directory)';
  return (
    `${redisTarget(store.redis)}, prefix ${store.prefix}: limits, leases, safeguard counts and ` +
    `records shared by every node; timeout ${formatDuration(store.timeoutMs)}, on failure ` +
    `${store.onFailure}, lease ${formatDuration(store.leaseMs)}`
  );
}

/**
 * The policy's mode, first: whether its limits act at all.
 *
 * @example
 * describeMode(policy); // 'Mode: shadow (limits decide and record, nothing is delayed or refused; plans and routes may differ)'
 */
function describeMode(policy: Policy): string {
  return policy.mode === 'shadow'
    ? 'Mode: shadow (limits decide and record, nothing is delayed or refused; plans and routes may differ)'
    : 'Mode: enforce (limits delay and refuse; plans and routes may differ)';
}

/** Where keys are read, which are stripped, and the delegate, as `sluice check` shows them. */
function describeIdentity(policy: Policy): string[] {
  const { credentials, stripCredential, delegate } = policy.identity;
  const where = credentials.map((c) =>
    c.kind === 'authorization'
      ? `Authorization: ${c.scheme}`
      : c.kind === 'header'
        ? (c.label ?? c.name)
        : `?${c.name}`,
  );
  const stripped = Object.entries(stripCredential)
    .filter(([, on]) => on)
    .map(([origin]) => origin);
  return [
    `  keys read from ${where.join(', ')} (two different keys in one request: 400)`,
    `  stripped before forwarding: ${stripped.length === 0 ? 'none' : `${stripped.join(', ')} keys`}`,
    delegate === undefined
      ? '  delegate: none (only keys in the store are known)'
      : `  delegate ${delegate.url}: timeout ${formatDuration(delegate.timeoutMs)}, kept ${formatDuration(delegate.ttlMs)} (unknown ${formatDuration(delegate.negativeTtlMs)}), ${delegate.maxEntries} entries; down: ${delegate.onFailure}`,
  ];
}
