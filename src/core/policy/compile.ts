/**
 * Policy document (plain data, as parsed from YAML) → compiled `Policy`:
 * validate against the schema, merge over the defaults, compile rates and durations
 * to numbers, check what involves several settings at once, deep-freeze.
 *
 * Every mistake is collected, not only the first: the compiler reads what it can and
 * skips values the schema already reported, so cross-setting checks still run on the
 * settings that are valid.
 */
import { type Problem, SluiceError } from '../errors.ts';
import {
  type Context,
  type Doc,
  deepFreeze,
  type Env,
  list,
  rate,
  read,
  section,
  wrote,
} from './compile-context.ts';
import { compileIdentity } from './compile-identity.ts';
import { compileOffHours } from './compile-off-hours.ts';
import { compileRoute } from './compile-routes.ts';
import { defaultDocument } from './default-policy.ts';
import { isMapping, mergeOverDefaults } from './merge.ts';
import { formatPath, type PathProblem, type PathSegment, ProblemList } from './problems.ts';
import { KINDS, SAFEGUARD_ACTIONS, SAFEGUARD_RULES, WEBHOOK_EVENTS } from './schema.ts';
import type {
  Plan,
  Policy,
  Rate,
  RedisStoreSettings,
  SafeguardRule,
  StoreSettings,
  Webhook,
} from './types.ts';
import { formatRate } from './units.ts';
import { checkSchema } from './validate.ts';

export { deepFreeze, type Env };

/**
 * Compiles a policy document, throwing `SLUICE_ERR_POLICY_INVALID` with every
 * problem (paths, no line numbers: parsePolicyText adds those).
 *
 * @example
 * compilePolicy({ ip: { warn: '50/min' } }, 'inline').ip.block; // { limit: 200, periodMs: 60000 }
 */
export function compilePolicy(doc: unknown, source: string, env: Env = {}): Policy {
  const { policy, problems } = compileDocument(doc, source, env);
  if (policy === undefined) {
    throw policyError(
      source,
      problems.map((p) => ({ path: formatPath(p.path), message: p.message })),
    );
  }
  return policy;
}

/** The error for a policy with mistakes: `policy.yaml has 3 mistakes`, exit status 2. */
export function policyError(source: string, problems: Problem[]): SluiceError {
  const n = problems.length;
  return new SluiceError(
    'SLUICE_ERR_POLICY_INVALID',
    `${source} has ${n} mistake${n === 1 ? '' : 's'}`,
    { problems, exitCode: 2 },
  );
}

/** Compiles without throwing: the policy, or the problems found. */
export function compileDocument(
  doc: unknown,
  source: string,
  env: Env = {},
): { policy: Policy | undefined; problems: readonly PathProblem[] } {
  const problems = new ProblemList();
  const input = doc ?? {}; // an empty file is the default policy
  checkSchema(input, problems);
  if (!isMapping(input)) return { policy: undefined, problems: problems.items };
  const ctx: Context = { problems, user: input, env };
  const d = mergeOverDefaults(input, defaultDocument());
  const plans = isMapping(d.plans) ? compilePlans(d.plans, ctx) : undefined;
  const policy = {
    version: 1,
    mode: d.mode,
    server: compileServer(section(d.server), ctx),
    ip: compileIp(section(d.ip), ctx),
    defaultPlan: compileDefaultPlan(d.defaultPlan, plans, ctx),
    plans,
    routes: list(d.routes).map((r, i) => compileRoute(section(r), i, ctx)),
    bulk: { allow: read(KINDS.rate, section(d.bulk).allow) },
    offHours: compileOffHours(section(d.offHours), ctx),
    safeguards: Object.fromEntries(
      SAFEGUARD_RULES.map((name) => [name, compileSafeguard(section(d.safeguards), name, ctx)]),
    ),
    webhooks: list(d.webhooks).map((w, i) => (isMapping(w) ? compileWebhook(w, i, ctx) : w)),
    interactive: { cookie: read(KINDS.cookieName, section(d.interactive).cookie) },
    identity: compileIdentity(section(d.identity), ctx),
    store: compileStore(d.store, ctx),
    source,
  };
  if (problems.items.length > 0) return { policy: undefined, problems: problems.items };
  return { policy: deepFreeze(policy as unknown as Policy), problems: [] };
}

/** `memory`, or Redis with its defaults filled in (the schema reported what is wrong). */
function compileStore(store: unknown, ctx: Context): StoreSettings | undefined {
  if (!isMapping(store)) return store === 'memory' ? { kind: 'memory' } : undefined;
  const redis = store.redis;
  const target =
    typeof redis === 'string'
      ? { url: read(KINDS.redisUrl, redis) }
      : { cluster: list(section(redis).cluster).map((n) => read(KINDS.hostPort, n)) };
  return {
    kind: 'redis',
    redis: target as RedisStoreSettings['redis'],
    prefix: store.prefix === undefined ? 'sluice:' : String(store.prefix),
    timeoutMs: store.timeout === undefined ? 50 : read(KINDS.timerDuration, store.timeout)!,
    onFailure: store.onFailure === 'closed' ? 'closed' : 'open',
    leaseMs: compileLease(store.lease, ctx),
  };
}

/** A concurrency lease's life: renewed every third of it, so no shorter than a second. */
function compileLease(lease: unknown, ctx: Context): number {
  if (lease === undefined) return 10_000;
  const ms = read(KINDS.timerDuration, lease) as number;
  if (typeof ms === 'number' && ms < 1_000) {
    ctx.problems.add(
      ['store', 'lease'],
      `lease (${String(lease)}) must be at least 1s: a node renews its leases every third of it, and a shorter one would expire under running requests at the first slow answer from Redis`,
    );
  }
  return ms;
}

function compileServer(s: Doc, ctx: Context) {
  const identity = section(s.identityHeaders);
  const keyless = s.unauthenticatedConcurrency;
  const connections = s.upstreamConnections;
  if (typeof keyless === 'number' && typeof connections === 'number' && keyless >= connections) {
    // Keyless callers are anonymous: they must never be able to hold every connection.
    const blame = wrote(ctx, ['server', 'unauthenticatedConcurrency'])
      ? ['server', 'unauthenticatedConcurrency']
      : ['server', 'upstreamConnections'];
    ctx.problems.add(
      blame,
      `unauthenticatedConcurrency (${keyless}) must be lower than upstreamConnections (${connections}), so callers without a key can never hold every upstream connection`,
    );
  }
  return {
    listen: read(KINDS.listen, s.listen),
    upstream: s.upstream === undefined ? undefined : read(KINDS.url, s.upstream),
    dataDir: read(KINDS.text, s.data),
    trustedProxies: list(s.trustedProxies).map((a) => read(KINDS.address, a)),
    upstreamTimeoutMs: read(KINDS.timerDuration, s.upstreamTimeout),
    caseSensitiveRoutes: s.caseSensitiveRoutes,
    upstreamConnections: s.upstreamConnections,
    requestTimeoutMs: read(KINDS.timerDuration, s.requestTimeout),
    bufferBodyBytes: read(KINDS.size, s.bufferBody),
    unauthenticated: s.unauthenticated,
    unauthenticatedConcurrency: s.unauthenticatedConcurrency,
    identityHeaders: {
      account: read(KINDS.headerName, identity.account),
      key: read(KINDS.headerName, identity.key),
    },
    preserveHost: s.preserveHost,
    publicUrl: s.publicUrl === undefined ? undefined : read(KINDS.url, s.publicUrl),
    legacyRateLimitHeaders: s.legacyRateLimitHeaders,
    threads: read(KINDS.threads, s.threads),
  };
}

function compileIp(ip: Doc, ctx: Context) {
  const warn = rate(ip.warn);
  const block = rate(ip.block);
  if (warn !== undefined && block !== undefined) {
    const blame = wrote(ctx, ['ip', 'warn']) ? ['ip', 'warn'] : ['ip', 'block'];
    const both = `warn (${formatRate(warn)}) and block (${formatRate(block)})`;
    if (warn.periodMs !== block.periodMs) {
      ctx.problems.add(blame, `${both} must count over the same period, like 100/min and 200/min`);
    } else if (warn.limit >= block.limit) {
      ctx.problems.add(
        blame,
        `warn (${formatRate(warn)}) must be lower than block (${formatRate(block)}): the warning comes before the block`,
      );
    }
  }
  const sharedEgress = list(ip.sharedEgress).map((a) => read(KINDS.address, a));
  return { warn, block, concurrency: ip.concurrency, sharedEgress };
}

/** Expresses `r` over `periodMs`, so a plan's rates add and compare directly. */
function over(r: Rate | undefined, periodMs: number | undefined): Rate | undefined {
  if (r === undefined || periodMs === undefined) return undefined;
  return { limit: (r.limit * periodMs) / r.periodMs, periodMs };
}

function compilePlans(plans: Doc, ctx: Context): Record<string, Plan> {
  const out: Record<string, Plan> = {};
  for (const [name, value] of Object.entries(plans)) {
    const path = ['plans', name];
    const named = KINDS.name(name);
    if (!named.ok) ctx.problems.add(path, `plan name ${named.message}`, 'key');
    const p = section(value);
    const base = rate(p.base);
    const min = over(rate(p.min), base?.periodMs);
    const max = over(rate(p.max), base?.periodMs);
    if (min !== undefined && max !== undefined && min.limit > max.limit) {
      const blame = wrote(ctx, [...path, 'min']) ? [...path, 'min'] : [...path, 'max'];
      ctx.problems.add(
        blame,
        `min (${formatRate(rate(p.min)!)}) must not be more than max (${formatRate(rate(p.max)!)})`,
      );
    }
    out[name] = {
      name,
      base,
      perUnit: over(read(KINDS.rateOrZero, p.perUnit), base?.periodMs),
      min,
      max,
      burst: p.burst,
      maxDelayMs: read(KINDS.timerDurationOrZero, p.maxDelay),
      maxSlowed: p.maxSlowed,
      concurrency: p.concurrency,
      queue: p.queue,
      queueTimeoutMs: read(KINDS.timerDuration, p.queueTimeout),
      ...(p.mode === undefined ? {} : { mode: p.mode }),
    } as unknown as Plan;
  }
  return out;
}

function compileDefaultPlan(value: unknown, plans: Record<string, Plan> | undefined, ctx: Context) {
  const name = read(KINDS.name, value);
  if (plans === undefined) return name;
  const names = Object.keys(plans);
  // Plans merge by name with the built-in ones, so the built-in default plan is always
  // there: only a defaultPlan the file names can be missing.
  if (name !== undefined && !names.includes(name)) {
    ctx.problems.add(['defaultPlan'], `"${name}" is not one of the plans: ${names.join(', ')}`);
  }
  return name;
}

function compileSafeguard(safeguards: Doc, name: string, ctx: Context): SafeguardRule {
  const rule = section(safeguards[name]);
  const durations = list(rule.durations).map((d) => read(KINDS.duration, d));
  checkSafeguardAction(rule, ['safeguards', name], durations.length, ctx);
  return {
    enabled: rule.enabled === undefined ? true : rule.enabled,
    dryRun: rule.dryRun === undefined ? false : rule.dryRun,
    threshold: rule.threshold,
    windowMs: read(KINDS.duration, rule.window),
    action: rule.action,
    durationsMs: durations,
    revokeAfter: rule.revokeAfter,
  } as unknown as SafeguardRule;
}

/** Durations and revokeAfter must suit the action (a revocation is permanent). */
function checkSafeguardAction(rule: Doc, path: PathSegment[], durations: number, ctx: Context) {
  const { action } = rule;
  // A wrong action, or durations that are not a list, have their own message already.
  if (!(SAFEGUARD_ACTIONS as readonly unknown[]).includes(action)) return;
  if (rule.durations !== undefined && !Array.isArray(rule.durations)) return;
  if (action === 'revoke' && durations > 0) {
    ctx.problems.add([...path, 'durations'], 'action revoke is permanent: remove durations');
  } else if (action !== 'revoke' && durations === 0) {
    const blame = wrote(ctx, [...path, 'durations']) ? 'durations' : 'action';
    ctx.problems.add(
      [...path, blame],
      `action ${action} needs durations, for example durations: [15m, 1h, 1d]`,
    );
  }
  if (rule.revokeAfter !== undefined && action !== 'suspend') {
    ctx.problems.add([...path, 'revokeAfter'], 'revokeAfter applies only to action suspend');
  }
}

function compileWebhook(w: Doc, i: number, ctx: Context): Webhook {
  const path = ['webhooks', i];
  let secret = w.secret;
  if (w.secret !== undefined && w.secretEnv !== undefined) {
    ctx.problems.add([...path, 'secretEnv'], 'give secret or secretEnv, not both');
  } else if (w.secret === undefined && w.secretEnv === undefined) {
    ctx.problems.add(
      path,
      'a webhook needs secret (its signing key) or secretEnv (the environment variable that holds it)',
    );
  } else if (w.secretEnv !== undefined) {
    const name = read(KINDS.envName, w.secretEnv);
    secret = name === undefined ? undefined : ctx.env[name];
    if (name !== undefined && (secret === undefined || secret === '')) {
      ctx.problems.add(
        [...path, 'secretEnv'],
        `the environment variable ${name} is ${secret === '' ? 'empty' : 'not set'}`,
      );
    }
  }
  const events = w.events === undefined ? [...WEBHOOK_EVENTS] : list(w.events);
  return { url: w.url, secret, events: [...new Set(events)] } as Webhook;
}
