/**
 * The JSON Schema of the policy file as people write it (YAML, camelCase keys).
 * Every mapping is closed (`additionalProperties: false`) so a misspelt key is a
 * mistake, never silently ignored. Values written in sluice's small languages (rates,
 * durations, addresses…) use the `kind` keyword, checked by the parsers in units.ts
 * and values.ts, so the schema and the compiler agree on what is valid.
 *
 * Every key is optional here: defaults come from the built-in policy (default-policy.ts).
 */
import { type Parsed, parseDuration, parseRate, parseSize, show } from './units.ts';
import {
  parseAddress,
  parseAuthScheme,
  parseCookieName,
  parseDailyRange,
  parseDataset,
  parseEnvName,
  parseHeaderName,
  parseHostPort,
  parseHttpUrl,
  parseListen,
  parseMethods,
  parseName,
  parseQueryParam,
  parseRedisUrl,
  parseRoutePath,
  parseText,
  parseThreads,
  parseTimeZone,
  parseWeekTime,
} from './values.ts';

const positive = (p: Parsed<number>, what: string): Parsed<number> =>
  p.ok && p.value <= 0 ? { ok: false, message: `${what} must be more than 0` } : p;

/**
 * The longest duration sluice waits with a timer (24 days). Node's timers hold at
 * most 2^31 − 1 ms (24.8 days); a longer one fires at once, so a 30-day maxDelay would
 * forward at once what it should hold. Holding an HTTP request for weeks is no
 * sensible setting either, so these are refused rather than re-armed.
 */
export const MAX_TIMER_MS = 24 * 86_400_000;

const timer = (value: unknown, p: Parsed<number>): Parsed<number> =>
  p.ok && p.value > MAX_TIMER_MS
    ? {
        ok: false,
        message: `${show(value)} is too long here: at most 24d (sluice waits this long with a timer, and timers cannot wait more than 24.8 days)`,
      }
    : p;

/** The checkers behind `{ kind: NAME }` in the schema. */
export const KINDS = {
  rate: (v) => {
    const p = parseRate(v);
    return p.ok && p.value.limit <= 0
      ? { ok: false, message: `${show(v)} lets nothing through: the count must be more than 0` }
      : p;
  },
  rateOrZero: parseRate,
  duration: (v) => positive(parseDuration(v), 'a duration here'),
  durationOrZero: parseDuration,
  timerDuration: (v) => timer(v, positive(parseDuration(v), 'a duration here')),
  timerDurationOrZero: (v) => timer(v, parseDuration(v)),
  size: parseSize,
  listen: parseListen,
  url: parseHttpUrl,
  redisUrl: parseRedisUrl,
  hostPort: parseHostPort,
  address: parseAddress,
  timeZone: parseTimeZone,
  weekTime: parseWeekTime,
  dailyRange: parseDailyRange,
  routePath: parseRoutePath,
  headerName: parseHeaderName,
  cookieName: parseCookieName,
  authScheme: parseAuthScheme,
  queryParam: parseQueryParam,
  methods: parseMethods,
  name: parseName,
  dataset: parseDataset,
  envName: parseEnvName,
  text: parseText,
  threads: parseThreads,
} satisfies Record<string, (value: unknown) => Parsed<unknown>>;

/** Looks a checker up by the name written in the schema. */
export function kindChecker(name: string): (value: unknown) => Parsed<unknown> {
  return (KINDS as Record<string, (value: unknown) => Parsed<unknown>>)[name];
}

export const CREDENTIAL_ORIGINS = ['sluice', 'imported', 'delegated'] as const;
export const CREDENTIAL_KINDS = ['header', 'authorization', 'query'] as const;

export const ROUTE_CLASSES = ['public', 'non-public', 'bulk', 'batch'] as const;
export const LIMIT_MODES = ['enforce', 'shadow'] as const;
export const SAFEGUARD_ACTIONS = ['block-ip', 'suspend', 'revoke'] as const;
export const WEBHOOK_EVENTS = ['warning', 'suspension', 'revocation', 'block'] as const;
export const SAFEGUARD_RULES = [
  'afterAuthFailure',
  'ignoring429',
  'malformedStorm',
  'nonPublicAutomation',
] as const;

type Schema = Record<string, unknown>;

const kind = (name: keyof typeof KINDS): Schema => ({ kind: name });
const closed = (properties: Record<string, Schema>, extra: Schema = {}): Schema => ({
  type: 'object',
  additionalProperties: false,
  properties,
  ...extra,
});
const whole = (minimum: number): Schema => ({ type: 'integer', minimum });
const listOf = (items: Schema, extra: Schema = {}): Schema => ({ type: 'array', items, ...extra });

const plan = closed({
  base: kind('rate'),
  perUnit: kind('rateOrZero'),
  min: kind('rate'),
  max: kind('rate'),
  burst: whole(1),
  maxDelay: kind('timerDurationOrZero'),
  maxSlowed: whole(0),
  concurrency: whole(1),
  queue: whole(0),
  queueTimeout: kind('timerDuration'),
  mode: { enum: [...LIMIT_MODES] },
});

const route = closed(
  {
    name: kind('name'),
    method: kind('methods'),
    path: kind('routePath'),
    query: { type: 'object', additionalProperties: { enum: ['present', 'absent'] } },
    class: { enum: [...ROUTE_CLASSES] },
    cost: whole(1),
    dataset: kind('dataset'),
    rate: kind('rate'),
    mode: { enum: [...LIMIT_MODES] },
  },
  { required: ['name', 'path'] },
);

const safeguard = closed({
  enabled: { type: 'boolean' },
  dryRun: { type: 'boolean' },
  threshold: whole(1),
  window: kind('duration'),
  action: { enum: [...SAFEGUARD_ACTIONS] },
  durations: listOf(kind('duration')),
  revokeAfter: whole(1),
});

/** The policy file's schema (draft-07 keywords plus sluice's `kind`). */
export const POLICY_SCHEMA: Schema = closed({
  version: { enum: [1] },
  mode: { enum: [...LIMIT_MODES] },
  server: closed({
    listen: kind('listen'),
    upstream: kind('url'),
    data: kind('text'),
    trustedProxies: listOf(kind('address')),
    upstreamTimeout: kind('timerDuration'),
    caseSensitiveRoutes: { type: 'boolean' },
    upstreamConnections: whole(1),
    requestTimeout: kind('timerDuration'),
    bufferBody: kind('size'),
    unauthenticated: { enum: ['ip-only', 'refuse'] },
    unauthenticatedConcurrency: whole(1),
    identityHeaders: closed({ account: kind('headerName'), key: kind('headerName') }),
    preserveHost: { type: 'boolean' },
    publicUrl: kind('url'),
    legacyRateLimitHeaders: { type: 'boolean' },
    threads: kind('threads'),
  }),
  ip: closed({
    warn: kind('rate'),
    block: kind('rate'),
    concurrency: whole(1),
    sharedEgress: listOf(kind('address')),
  }),
  defaultPlan: kind('name'),
  plans: { type: 'object', additionalProperties: plan },
  routes: listOf(route),
  bulk: closed({ allow: kind('rate') }),
  offHours: closed({
    timeZone: kind('timeZone'),
    windows: listOf(
      closed({ from: kind('weekTime'), to: kind('weekTime'), daily: kind('dailyRange') }),
    ),
    batchMultiplier: { type: 'number', minimum: 1 },
    confineBatch: { type: 'boolean' },
  }),
  safeguards: closed(Object.fromEntries(SAFEGUARD_RULES.map((r) => [r, safeguard]))),
  webhooks: listOf(
    closed(
      {
        url: kind('url'),
        secret: kind('text'),
        secretEnv: kind('envName'),
        events: listOf({ enum: [...WEBHOOK_EVENTS] }, { minItems: 1 }),
      },
      { required: ['url'] },
    ),
  ),
  interactive: closed({ cookie: kind('cookieName') }),
  identity: closed({
    credentials: listOf(
      closed({
        header: kind('headerName'),
        authorization: kind('authScheme'),
        query: kind('queryParam'),
      }),
      { minItems: 1 },
    ),
    stripCredential: closed(
      Object.fromEntries(CREDENTIAL_ORIGINS.map((o) => [o, { type: 'boolean' }])),
    ),
    delegate: closed(
      {
        url: kind('url'),
        timeout: kind('timerDuration'),
        ttl: kind('timerDuration'),
        negativeTtl: kind('timerDuration'),
        maxEntries: whole(1),
        onFailure: { enum: ['refuse', 'anonymous'] },
      },
      { required: ['url'] },
    ),
  }),
  // `memory`, or the settings of a Redis store (`redis` a URL, or a cluster's nodes).
  store: {
    if: { type: 'string' },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then/else, not a promise
    then: { enum: ['memory'] },
    else: closed(
      {
        redis: {
          if: { type: 'string' },
          // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then/else, not a promise
          then: kind('redisUrl'),
          else: closed(
            { cluster: listOf(kind('hostPort'), { minItems: 1 }) },
            { required: ['cluster'] },
          ),
        },
        prefix: kind('text'),
        timeout: kind('timerDuration'),
        onFailure: { enum: ['open', 'closed'] },
        lease: kind('timerDuration'),
      },
      { required: ['redis'] },
    ),
  },
});
