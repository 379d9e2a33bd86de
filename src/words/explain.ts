/**
 * Plain-language explanations of incidents, for support staff and the customers they
 * talk to: what happened, why (with the numbers at the time), and what to change.
 *
 * The numbers come from the incident's counters. The names each rule's explanation
 * reads are listed in docs/incidents.md; a missing counter only makes a sentence less
 * specific, and a counter no sentence names is still listed at the end of `why`, so
 * nothing recorded is hidden from support.
 *
 * Over 300 lines on purpose: one table holds every rule's words, so a rule without
 * words (or words for a rule's facts it does not record) shows here and fails to compile.
 */

import type { RuleId } from '../core/decision.ts';
import {
  type AccountBudgetFacts,
  type Counters,
  type FactsByRule,
  type IncidentRule,
  type QueueFacts,
  type SafeguardFacts,
  type ShadowFacts,
  type ShadowOutcome,
  shadowOutcome,
  wasDryRun,
} from '../core/incident-facts.ts';
import type { Incident, SafeguardRuleId, Subject } from '../core/records.ts';
import { ordinal } from './safeguard.ts';

export interface Explanation {
  readonly title: string;
  readonly what: string;
  readonly why: string;
  readonly fix: string;
}

/**
 * Reads an incident's counters by the names its rule's facts have (incident-facts.ts),
 * remembering which ones a sentence used. The stored row may lack any of them (older
 * rows, other writers): each read says undefined then.
 */
class Facts<T> {
  readonly #counters: Counters;
  readonly #used = new Set<string>();

  constructor(counters: Counters) {
    this.#counters = counters;
  }

  /** The counter as text, or undefined when it was not recorded. */
  get(name: keyof T & string): string | undefined {
    const v = this.#counters[name];
    if (v === undefined || v === '') return undefined;
    this.#used.add(name);
    return String(v);
  }

  /** The raw value, without counting it as said. */
  peek(name: keyof T & string): number | string | undefined {
    return this.#counters[name];
  }

  /** The value as its rule's facts type it, counted as said. */
  value<K extends keyof T & string>(name: K): T[K] | undefined {
    const v = this.#counters[name];
    if (v === undefined) return undefined;
    this.#used.add(name);
    return v as T[K];
  }

  /** A counter holding milliseconds, as a duration in words. */
  ms(name: keyof T & string): string | undefined {
    const v = this.#counters[name];
    if (typeof v !== 'number') return undefined;
    this.#used.add(name);
    return duration(v);
  }

  /** A period counter in seconds (`…Sec`); one minute when not recorded. */
  periodSec(name: keyof T & string): number {
    const v = this.#counters[name];
    if (typeof v !== 'number' || v <= 0) return 60;
    this.#used.add(name);
    return v;
  }

  /** Marks counters the rule's words already say (e.g. `keyStatus` for key-revoked). */
  said(...names: (keyof T & string)[]): void {
    for (const name of names) this.#used.add(name);
  }

  /** Counters no sentence used, e.g. "shard 3, region eu". */
  rest(): string {
    return Object.entries(this.#counters)
      .filter(([name]) => !this.#used.has(name))
      .map(([name, value]) => `${name} ${value}`)
      .join(', ');
  }
}

interface Context<T> {
  readonly f: Facts<T>;
  /** Everything known about the caller: "API key K of account A from IP I". */
  readonly who: string;
  /** The key and its account, for actions on a key: "API key K of account A". */
  readonly key: string;
  readonly ip: string;
  readonly subject: Subject;
}

/** "1 minute", "1.5 minutes", "45 seconds", "30 days", "250 ms". */
export function duration(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, 'day'],
    [3_600_000, 'hour'],
    [60_000, 'minute'],
    [1_000, 'second'],
  ];
  for (const [size, name] of units) {
    if (ms >= size) {
      const n = Math.round((ms / size) * 10) / 10;
      return `${n} ${name}${n === 1 ? '' : 's'}`;
    }
  }
  return `${Math.round(ms)} ms`;
}

const ONE: Readonly<Record<number, string>> = { 1: 'second', 60: 'minute', 3600: 'hour' };

/** 60 → "per minute", 10 → "per 10 seconds". */
function per(sec: number): string {
  return `per ${ONE[sec] ?? duration(sec * 1000)}`;
}

/** 60 → "within one minute", 10 → "within 10 seconds". */
function within(sec: number): string {
  return ONE[sec] ? `within one ${ONE[sec]}` : `within ${duration(sec * 1000)}`;
}

function whoOf(s: Subject): string {
  const parts: string[] = [];
  if (s.keyId !== undefined) parts.push(`API key ${s.keyId}`);
  if (s.accountId !== undefined) parts.push(`${parts.length ? 'of ' : ''}account ${s.accountId}`);
  if (s.ip !== undefined) parts.push(`${parts.length ? 'from ' : ''}IP ${s.ip}`);
  return parts.length ? parts.join(' ') : 'an unidentified caller';
}

function keyOf(s: Subject): string {
  if (s.keyId === undefined) return whoOf(s);
  return `API key ${s.keyId}${s.accountId === undefined ? '' : ` of account ${s.accountId}`}`;
}

/**
 * Who acted, from the stored actor: `sluice` is a safeguard, `cli:<user>` an operator
 * with the sluice CLI, `admin:<name>` the admin API; undefined when not recorded (rows
 * written before the actor was), so the words never guess.
 *
 * @example
 * actorWords('cli:alice'); // 'an operator (alice) with the sluice CLI'
 */
export function actorWords(actor: string | undefined): string | undefined {
  if (actor === undefined || actor === '') return undefined;
  if (actor === 'sluice') return 'a safeguard';
  if (actor.startsWith('cli:')) return `an operator (${actor.slice(4)}) with the sluice CLI`;
  if (actor.startsWith('admin:')) return `an operator (${actor.slice(6)}) through the admin API`;
  return actor;
}

/** " by a safeguard", " by an operator (alice) with the sluice CLI", or nothing when not recorded. */
function byWhom(actor: string | undefined): string {
  const words = actorWords(actor);
  return words === undefined ? '' : ` by ${words}`;
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

const STATUS_429 = '429 Too Many Requests';
const PACE =
  'wait for the Retry-After time after a 429, and do not add concurrency when responses slow down';

/**
 * The account's budget from the engine's counters: "The account may make 600 requests
 * per minute (plan standard, size 12, bursts of up to 20); this request costs 5. "
 */
function accountBudget(f: Facts<AccountBudgetFacts>): { words: string; rate: string } {
  const rate = f.get('rate');
  const sec = f.periodSec('periodSec');
  const terms = [
    f.get('plan') && `plan ${f.get('plan')}`,
    f.get('size') && `size ${f.get('size')}`,
    f.get('burst') && `bursts of up to ${f.get('burst')}`,
  ].filter(Boolean);
  const cost = f.get('cost');
  f.said('account');
  const words = rate
    ? `The account may make ${rate} requests ${per(sec)}${terms.length ? ` (${terms.join(', ')})` : ''}${cost && cost !== '1' ? `; this request costs ${cost}` : ''}. `
    : '';
  return { words, rate: rate ? `${rate} ${per(sec)}` : 'the account rate' };
}

/** "once", "twice", "3 times". */
function times(n: string | undefined): string {
  return n === undefined
    ? 'a limited number of times'
    : n === '1'
      ? 'once'
      : n === '2'
        ? 'twice'
        : `${n} times`;
}

/** " (the queue holds 32)", or nothing when the number was not recorded. */
function paren(words: string, value: string | undefined): string {
  return value === undefined ? '' : ` (${words} ${value})`;
}

/** "4 requests of the account were in progress (its limit is 4)". */
function busy(f: Facts<QueueFacts>): string {
  const inflight = f.get('inflight');
  const limit = paren('its limit is', f.get('concurrency'));
  return inflight === undefined
    ? `The account had as many requests in progress as it may${limit}`
    : `${inflight} requests of the account were in progress${limit}`;
}

/**
 * A safeguard's action in words, from the `action`, `durationMs` and `dryRun` counters.
 * Without `action`, it is read from the subject only where that is unambiguous: an IP
 * alone was blocked; a key without an IP was suspended (with a duration) or revoked.
 */
function action(c: Context<SafeguardFacts>): string {
  const { keyId, ip } = c.subject;
  const inferred =
    keyId === undefined
      ? ip === undefined
        ? undefined
        : 'block-ip'
      : ip !== undefined
        ? undefined
        : typeof c.f.peek('durationMs') === 'number'
          ? 'suspend'
          : 'revoke';
  const act = c.f.get('action') ?? inferred;
  const dur = c.f.ms('durationMs');
  const until = c.f.get('until');
  const lasting = `${dur ? ` for ${dur}` : ''}${until ? ` (until ${until})` : ''}`;
  const done =
    act === 'revoke'
      ? `${c.key} was revoked`
      : act === 'suspend'
        ? `${c.key} was suspended${lasting}`
        : act === 'block-ip'
          ? `IP ${c.ip} was blocked${lasting}`
          : `the safeguard acted on ${c.who}`;
  return wasDryRun(c.f.value('dryRun'))
    ? `Dry run, nothing was done: ${done.replace(' was ', ' would have been ')}.`
    : `${capital(done)}.`;
}

/** "5000 refused requests within 10 minutes; the safeguard acts at 1000 (2nd offence)." */
function observed(c: Context<SafeguardFacts>, thing: string): string {
  const n = c.f.get('observations');
  const threshold = c.f.get('threshold');
  const window = c.f.ms('windowMs');
  const offence = c.f.get('offence');
  const seen = `${n ?? 'repeated'} ${thing}${window ? ` within ${window}` : ''}`;
  const acts = threshold ? `; the safeguard acts at ${threshold}` : '';
  return `${seen}${acts}${offence ? ` (${ordinal(Number(offence))} offence)` : ''}.`;
}

type Explainer<T> = (c: Context<T>) => Omit<Explanation, 'title'>;

/** Each rule's words, reading the facts its rule records (and only those: a typo cannot compile). */
const EXPLAIN: {
  readonly [R in IncidentRule]: { title: string; explain: Explainer<FactsByRule[R]> };
} = {
  'ip-block': {
    title: 'Too many requests from one IP address',
    explain: ({ f, ip }) => {
      const sent = f.get('ipRequests');
      const limit = f.get('ipBlock');
      const warn = f.get('ipWarn');
      const sec = f.periodSec('windowSec');
      return {
        what: `Requests from IP ${ip} were refused with ${STATUS_429}.`,
        why: `This IP sent ${sent ?? 'more'} requests ${within(sec)}; the limit is ${limit ?? 'lower'} ${per(sec)} per IP.${warn ? ` Warnings start at ${warn} ${per(sec)}.` : ''}`,
        fix: `Pace requests below ${limit ?? 'the limit'} ${per(sec)} from one address, ${PACE}.`,
      };
    },
  },
  'account-rate': {
    title: 'Account over its request rate',
    explain: ({ f, who }) => {
      const budget = accountBudget(f);
      const need = f.ms('delayMs');
      const max = f.ms('maxDelayMs');
      return {
        what: `Requests of ${who} were slowed as far as allowed, then refused with ${STATUS_429}.`,
        why: `${budget.words}This request would have had to wait${need ? ` ${need}` : ''} to conform, longer than the maximum delay${max ? ` of ${max}` : ''}.`,
        fix: `Send requests one after another at no more than ${budget.rate}, ${PACE}.`,
      };
    },
  },
  'account-slowed': {
    title: 'Too many slowed requests at once',
    explain: ({ f, who }) => {
      const budget = accountBudget(f);
      return {
        what: `A request of ${who} was refused with ${STATUS_429} because many of its requests were already being slowed.`,
        why: `${budget.words}${f.get('slowed') ?? 'Too many'} of its requests were being held back to conform at the same time; at most ${f.get('maxSlowed') ?? 'a few'} may be.`,
        fix: `Slowed responses mean the rate is too high: wait for each response before sending the next, stay under ${budget.rate}, ${PACE}.`,
      };
    },
  },
  'account-queue': {
    title: "Account's request queue full",
    explain: ({ f, who }) => ({
      what: `A request of ${who} was refused with ${STATUS_429} because the account's queue was full.`,
      why: `${busy(f)}, and ${f.get('queued') ?? 'as many as allowed'} were waiting${paren('the queue holds', f.get('queue'))}.`,
      fix: `Send fewer requests at the same time: wait for each response before sending the next, ${PACE}.`,
    }),
  },
  'account-queue-timeout': {
    title: "Waited too long in the account's queue",
    explain: ({ f, who }) => ({
      what: `A request of ${who} waited in the account's queue and was refused with ${STATUS_429} when its time ran out.`,
      why: `${busy(f)}, and ${f.get('queued') ?? 'others'} were waiting${paren('the queue holds', f.get('queue'))}; a request waits at most ${f.ms('queueTimeoutMs') ?? 'a short time'} for its turn.`,
      fix: `Send fewer requests at the same time and keep each one small, ${PACE}.`,
    }),
  },
  'route-rate': {
    title: 'Route rate exceeded',
    explain: ({ f, who }) => {
      const route = f.get('route');
      const limit = f.get('routeRate');
      const sec = f.periodSec('periodSec');
      const batch = f.get('routeClass') === 'batch';
      const incremental = f.get('incremental');
      f.said('account');
      const allows = `allows ${limit ?? 'fewer'} requests ${per(sec)} per account, on top of the account's own rate`;
      return {
        what: `Requests of ${who} to ${route ? `the ${route} route` : 'one route'} were refused with ${STATUS_429}.`,
        why: batch
          ? `${route ? `The ${route} route` : 'This route'} is batch work${incremental ? ` (a full listing: no ${incremental} filter)` : ''} and ${allows}.`
          : `${route ? `The ${route} route` : 'This route'} has a rate of its own: it ${allows}.`,
        fix: batch
          ? `Sync incrementally: ${incremental ? `add ${incremental}=<the time of your last sync>` : 'ask only for what changed since your last sync'} so only changes are listed, and run full listings in the off-hours windows.`
          : `Call ${route ?? 'this route'} less often (at most ${limit ?? 'its limit'} ${per(sec)}) and cache its results.`,
      };
    },
  },
  'bulk-export': {
    title: 'Bulk export allowance used up',
    explain: ({ f, who }) => {
      const dataset = f.get('dataset');
      const allowed = f.get('allowed');
      const period = f.ms('periodMs');
      const made = f.get('exports');
      const incremental = f.get('incremental');
      return {
        what: `A full export${dataset ? ` of ${dataset}` : ''} by ${who} was refused with ${STATUS_429}.`,
        why: `Full exports are allowed ${times(allowed)} ${period ? `every ${period}` : 'per period'} per account and dataset${made ? `, and ${made} ${made === '1' ? 'was' : 'were'} already made` : ''}.`,
        fix: `Sync incrementally: ask only for what changed since your last sync${incremental ? ` (the ${incremental} filter of the list endpoints)` : ''}, and keep full exports for occasional reconciliation.`,
      };
    },
  },
  'batch-window': {
    title: 'Batch route outside the off-hours windows',
    explain: ({ f, who }) => {
      const route = f.get('route');
      return {
        what: `A batch request of ${who}${route ? ` to ${route}` : ''} was refused with ${STATUS_429} because it came outside the off-hours windows.`,
        why: `Batch routes run only in off-hours windows (${f.get('windows') ?? 'by default weekends and around 2am US Eastern time'}).`,
        fix: `Schedule batch jobs inside the off-hours windows the gateway publishes, and use incremental queries during the day.`,
      };
    },
  },
  'non-public': {
    title: 'API key used on a non-public route',
    explain: ({ f, who }) => {
      const route = f.get('route') ?? f.get('path');
      return {
        what: `A request of ${who} to the non-public route${route ? ` ${route}` : ''} was refused with 403 Forbidden.`,
        why: `This route (for example report rendering) serves the web application only; API keys may not automate it, and repeated attempts revoke the key.`,
        fix: `Stop calling this route from the integration; use the public API endpoints for the same data.`,
      };
    },
  },
  'key-revoked': {
    title: 'Revoked API key',
    explain: ({ f, who }) => {
      const reason = f.get('reason');
      f.said('keyStatus');
      return {
        what: `A request with ${who} was refused with 403 Forbidden because the key is revoked.`,
        why: `The key was revoked${byWhom(f.get('by'))}${reason ? ` (${reason})` : ''}, so it is refused before reaching the API. Requests that keep coming with it get the IP blocked.`,
        fix: `Stop all requests with this key now. Ask support to reinstate it (quote this reference), or use a new key once the cause is fixed.`,
      };
    },
  },
  'key-suspended': {
    title: 'Suspended API key',
    explain: ({ f, who }) => {
      const reason = f.get('reason');
      const until = f.get('suspendedUntil');
      f.said('keyStatus');
      return {
        what: `A request with ${who} was refused with 403 Forbidden because the key is suspended.`,
        why: `The key was suspended${byWhom(f.get('by'))}${reason ? ` (${reason})` : ''}${until ? ` until ${until}` : ''}.`,
        fix: `Stop sending requests until the suspension ends (see Retry-After), fix what caused it, then resume slowly.`,
      };
    },
  },
  'key-unknown': {
    title: 'Unknown API key',
    explain: ({ who }) => ({
      what: `A request from ${who} was refused with 401 Unauthorized: its API key is not known.`,
      why: `The key does not exist or was mistyped, and this gateway refuses requests with unknown keys.`,
      fix: `Check the key the integration sends. Stop on 401 instead of retrying: repeated failures get the IP blocked.`,
    }),
  },
  'key-missing': {
    title: 'Missing API key',
    explain: ({ who }) => ({
      what: `A request from ${who} was refused with 401 Unauthorized: it carried no API key.`,
      why: `This gateway requires an API key on every request.`,
      fix: `Send the API key with every request. Stop on 401 instead of retrying: repeated failures get the IP blocked.`,
    }),
  },
  'ip-blocked': {
    title: 'IP address blocked',
    explain: ({ f, ip }) => {
      const reason = f.get('reason');
      const until = f.get('blockedUntil');
      const by = f.get('by');
      const earnedBy = f.get('earnedByKey');
      const block = `${reason ? ` (${reason})` : ''}${until ? ` until ${until}` : ''}`;
      const what = `Requests from IP ${ip} were refused with 403 Forbidden because the address is blocked.`;
      if (by !== 'sluice') {
        // Who acted is not recorded on incidents older than the actor: say only what is known.
        const actor = actorWords(by);
        return {
          what,
          why: actor
            ? `${capital(actor)} blocked this address${block}. No safeguard was involved.`
            : `This address was blocked${block}.`,
          fix: `Stop all requests from this address and contact support quoting this reference: the operator who blocked it can say why and lift it.`,
        };
      }
      const who =
        earnedBy === undefined
          ? 'it kept sending requests that were refused'
          : `API key ${earnedBy} kept sending requests that were refused; the block refuses that key's account and requests without a valid key from this address, not other accounts' keys`;
      return {
        what,
        why: `A safeguard blocked this address${block} after ${who}.`,
        fix: `Stop all requests from this address, make the integration stop on 401/403 and back off on 429, and contact support quoting this reference.`,
      };
    },
  },
  'ip-concurrency': {
    title: 'Too many requests from one IP address at once',
    explain: ({ f, ip }) => ({
      what: `A request from IP ${ip} was refused with ${STATUS_429} because many of its requests were still open.`,
      why: `${f.get('ipHeld') ?? 'Too many'} requests from this address were being held at the same time (waiting, sending their body or in the API); at most ${f.get('ipConcurrency') ?? 'a few'} may be.`,
      fix: `Send fewer requests at the same time from one address, send each request body in one go, and wait for each response before sending the next, ${PACE}.`,
    }),
  },
  'unauthenticated-concurrency': {
    title: 'Too many requests without an API key at once',
    explain: ({ f, who }) => ({
      what: `A request from ${who} carried no known API key and was refused with ${STATUS_429} because the gateway's share for such requests was in use.`,
      why: `${f.get('keylessHeld') ?? 'Many'} requests without a key, from all addresses together, were being held at the same time; at most ${f.get('unauthenticatedConcurrency') ?? 'a few'} may be.`,
      fix: `Send an API key with every request: keyed requests have their own share. Without a key, retry after the Retry-After time, ${PACE}.`,
    }),
  },
  'safeguard-auth-failure': {
    title: 'Safeguard: requests kept coming after authentication failed',
    explain: (c) => ({
      what: action(c),
      why: `${capital(c.who)} kept sending requests after 401/403 answers or with a revoked key: ${observed(c, 'refused requests')}`,
      fix: `Make the integration stop all requests on 401 or 403 and tell its owner; only fixed credentials should make it resume.`,
    }),
  },
  'safeguard-ignoring-429': {
    title: 'Safeguard: requests kept coming while refused with 429',
    explain: (c) => ({
      what: action(c),
      why: `${capital(c.who)} did not back off after 429 answers: ${observed(c, 'requests refused with 429')}`,
      fix: `After a 429, wait at least the Retry-After time, then resume at a lower rate; never retry at once or in parallel.`,
    }),
  },
  'safeguard-malformed-storm': {
    title: 'Safeguard: a storm of malformed requests',
    explain: (c) => ({
      what: action(c),
      why: `${capital(c.who)} kept sending requests the API refused as malformed (4xx): ${observed(c, 'failed requests')}`,
      fix: `Do not retry requests that fail with 400, 404 or 422: log the error body and fix the request instead.`,
    }),
  },
  'safeguard-non-public': {
    title: 'Safeguard: automation of a non-public route',
    explain: (c) => ({
      what: action(c),
      why: `${capital(c.who)} kept calling a non-public route with an API key: ${observed(c, 'attempts')}`,
      fix: `Remove calls to non-public routes (such as report rendering) from the integration and use the public API; then ask support to reinstate the key.`,
    }),
  },
};

/** Every rule has facts, and only rules do: true only when the two sets are the same. */
type SameRules = [IncidentRule] extends [RuleId | SafeguardRuleId]
  ? [RuleId | SafeguardRuleId] extends [IncidentRule]
    ? true
    : false
  : false;
const rulesHaveFacts: SameRules = true;
void rulesHaveFacts;

/** Every rule that has an explanation (all of `RULES` and every safeguard rule). */
export const EXPLAINED_RULES: readonly IncidentRule[] = Object.keys(EXPLAIN) as IncidentRule[];

/**
 * Explains an incident in plain language.
 *
 * @example
 * explainIncident(incident).why;
 * // 'This IP sent 214 requests within one minute; the limit is 200 per minute per IP.'
 */
export function explainIncident(incident: Incident): Explanation {
  // The stored row is read as its rule's facts: a missing name only reads as undefined.
  const f = new Facts<Counters>(incident.counters);
  const who = whoOf(incident.subject);
  const entry = EXPLAIN[incident.rule] as
    | { title: string; explain: Explainer<Counters> }
    | undefined;
  const text: { what: string; why: string; fix: string } =
    entry === undefined
      ? // A rule newer than this file (e.g. read from a newer node's store): say what is known.
        {
          what: `Requests of ${who} were refused by the rule ${incident.rule}.`,
          why: 'No explanation is written for this rule yet.',
          fix: 'Contact support with this reference.',
        }
      : entry.explain({
          f,
          who,
          key: keyOf(incident.subject),
          ip: incident.subject.ip ?? '(unknown)',
          subject: incident.subject,
        });
  // Counters no sentence named, and the note (e.g. when the next export is allowed),
  // end `why`, so support sees everything that was recorded. A safeguard's note is the
  // reason its explanation already gives in full: said once, not twice.
  const would = shadowOutcome(incident.counters);
  if (would !== undefined) {
    const shadow = shadowWords(would, f, who, text, incident.rule);
    text.what = shadow.what;
    if (shadow.why !== undefined) text.why = shadow.why;
  }
  const rest = f.rest();
  const note = incident.rule.startsWith('safeguard-') ? undefined : incident.note;
  const why = [
    text.why,
    rest && `Counters at the time: ${rest}.`,
    note && capital(note).replace(/\.?$/, '.'),
  ]
    .filter(Boolean)
    .join(' ');
  const title = entry?.title ?? `Refused by rule ${incident.rule}`;
  return {
    title:
      would === undefined
        ? title
        : `Shadow mode: would have been ${would === 'delay' ? 'slowed' : 'refused'} (${title})`,
    what: text.what,
    why,
    fix: text.fix,
  };
}

/**
 * The words of an incident recorded in shadow mode: what the limit would have done, and
 * that nothing was done. A would-be refusal keeps its rule's reasons; a would-be delay
 * has its own (its rule's words are about a refusal).
 */
function shadowWords(
  would: ShadowOutcome,
  counters: Facts<Counters>,
  who: string,
  text: { what: string },
  rule: string,
): { what: string; why?: string } {
  const f = counters as unknown as Facts<ShadowFacts>;
  f.said('dryRun', 'would');
  if (would === 'refuse') {
    return {
      what: `Shadow mode (nothing was refused; the requests were forwarded): ${text.what.replace(/^./, (c) => c.toLowerCase())}`,
    };
  }
  const held = f.ms('delayMs');
  return {
    what: `Shadow mode (nothing was delayed): requests of ${who} would have been slowed${held ? `, this one by ${held},` : ''} to conform to the ${rule} limit; they were forwarded at once.`,
    why: `Enforced, the ${rule} limit holds a request back until it conforms to the rate, up to the plan's maximum delay.`,
  };
}
