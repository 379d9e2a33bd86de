/**
 * The decision engine: per-IP warn/block, then the account's budget (slow, then refuse),
 * then an optional per-route rate. It returns a `Decision` value — a refusal is never
 * thrown — and answers synchronously while the store does (the memory store does), so
 * the gateway's hot path creates no promise; with a Redis store it returns a promise,
 * and a store with `windowThenGcra` decides a. and b. together in one round trip (and
 * may take the account's concurrency slot in it: the Redis store's leases).
 *
 * Order and keys:
 *   a. `ip:<ip>` sliding window (policy.ip). Counts requests, not cost: the product's IP
 *      thresholds are "requests per minute". Refused → `ip-block`.
 *   b. `acct:<id>` GCRA with the plan's budget for the account's size (unknown plan →
 *      policy.defaultPlan). Over the rate by at most maxDelayMs → `delay`; by more →
 *      `account-rate`. If the account already has `maxSlowed` requests being slowed, a
 *      request that would need a delay is refused with `account-slowed` instead (the
 *      limiter is asked with maxDelayMs 0, so its state is untouched).
 *   c. `route:<name>:<id>` GCRA when the route has its own rate (one unit per request,
 *      burst = the route's limit, same delay rules) → `route-rate`.
 * A later stage refusing leaves the earlier stages' counts spent (the IP window counted
 * the request, the account paid its cost): undoing would need a second round trip to
 * the store, and a refused caller being charged is the safer error.
 *
 * The gateway calls `slowedEnter` when it starts holding a delayed request and
 * `slowedLeave` when it stops. With an asynchronous store, decisions in flight at the
 * same time for one account may each see room and pass `maxSlowed` by that many.
 *
 * Over 300 lines on purpose: a → b → c is one chain of continuations (each may wait on
 * the store), and reads best top to bottom in one file.
 */

import type { Clock } from './clock.ts';
import { type Decision, deny, type IpWarning, type LimitState } from './decision.ts';
import { SluiceError } from './errors.ts';
import type { AccountBudgetFacts, FactsOf } from './incident-facts.ts';
import { SlowedCounter } from './limiter/account-queue.ts';
import { accountRate, gcraParamsFor } from './limiter/budget.ts';
import type {
  GcraParams,
  GcraResult,
  LimitStore,
  WindowParams,
  WindowResult,
} from './limiter/types.ts';
import { isAnswered, whenReady } from './maybe-async.ts';
import type { Plan, Policy, Rate } from './policy/types.ts';

export interface AdmitInput {
  readonly ip: string;
  /** The per-IP window to count in, when not the IP's own (a shared-egress IP and its account). */
  readonly ipScope?: string;
  readonly account?:
    | { readonly id: string; readonly size: number; readonly plan: string }
    | undefined;
  /** Units of the account's budget this request spends (the route's cost). */
  readonly cost: number;
  readonly route?: RouteInput | undefined;
}

/** The route a request matched, as far as the engine counts it and explains a refusal. */
export interface RouteInput {
  readonly name: string;
  readonly rate?: Rate | undefined;
  /** The route is batch work (a full listing): said so in the refusal's explanation. */
  readonly batch?: boolean;
  /** The query parameter whose absence made it a full listing (e.g. `modifiedAfter`). */
  readonly incremental?: string | undefined;
}

export interface Engine {
  /** Decides one request. Synchronous when the store is. */
  admit(input: AdmitInput): Decision | Promise<Decision>;
  /** The gateway starts holding a delayed request of this account. */
  slowedEnter(accountId: string): void;
  /** …and stops holding it (forwarded, or the client left). */
  slowedLeave(accountId: string): void;
  /**
   * Where the account's budget and its routes' rates stand now, spending nothing (each
   * limiter is asked for a cost of 0): the caller's own usage page.
   */
  standing(
    account: NonNullable<AdmitInput['account']>,
    routes: readonly RouteInput[],
  ): Standing | Promise<Standing>;
  /** Swaps the policy; decisions already started finish with the one they began with. */
  setPolicy(policy: Policy): void;
  readonly policy: Policy;
}

/** Where an account's limits stand (`Engine.standing`). */
export interface Standing {
  readonly plan: Plan;
  /** The account's rate for its size, per the plan's base period. */
  readonly rate: Rate;
  /** The account's budget as the RateLimit headers would say it. */
  readonly account: LimitState;
  /** How long a request of cost 1 sent now would be held to conform (0: none). */
  readonly delayMs: number;
  /** Each rated route, as `route-<name>` in the RateLimit headers. */
  readonly routes: readonly LimitState[];
}

export interface EngineOptions {
  readonly policy: Policy;
  readonly store: LimitStore;
  readonly clock: Clock;
}

/** What the engine derives once per policy rather than once per request. */
interface Compiled {
  readonly policy: Policy;
  readonly ip: WindowParams;
  readonly ipWindowSec: number;
  readonly plans: ReadonlyMap<string, Plan>;
  readonly defaultPlan: Plan;
}

/** What one decision carries from stage to stage (one object, so the async path is cheap). */
interface Pending {
  readonly c: Compiled;
  readonly input: AdmitInput;
  readonly account: NonNullable<AdmitInput['account']>;
  readonly now: number;
  readonly cost: number;
  readonly ipLimit: LimitState;
  readonly warning: IpWarning | undefined;
  readonly plan: Plan;
  readonly params: GcraParams;
  readonly slowedFull: boolean;
  accountLimit: LimitState | undefined;
  accountDelayMs: number;
}

/**
 * @example
 * const engine = createEngine({ policy, store: new MemoryLimitStore(), clock: systemClock });
 * const d = engine.admit({ ip: '203.0.113.9', account: { id: 'acme', size: 12, plan: 'standard' }, cost: 1 });
 * if (isAnswered(d) && d.outcome === 'deny') console.log(d.rule, d.retryAfterMs);
 */
export function createEngine(options: EngineOptions): Engine {
  const { store, clock } = options;
  const slowed = new SlowedCounter();
  let compiled = compile(options.policy);
  // Stores with the namespace fast path are not handed a freshly built key per request.
  const split = store.gcraIn !== undefined && store.windowIn !== undefined;
  const gcra = (ns: string, id: string, now: number, cost: number, params: GcraParams) =>
    split ? store.gcraIn!(ns, id, now, cost, params) : store.gcra(ns + id, now, cost, params);
  const prefetch = split && store.prefetch !== undefined;
  // A store across the network decides the IP window and the account budget in one trip.
  const pair = store.windowThenGcra !== undefined;

  function admit(input: AdmitInput): Decision | Promise<Decision> {
    const c = compiled;
    // The IP and the account look-ups start together: their cache misses overlap.
    const scope = input.ipScope ?? input.ip;
    if (prefetch && input.account !== undefined) {
      store.prefetch!('ip:', scope, 'acct:', input.account.id);
    }
    const now = clock.now();
    const account = input.account;
    if (pair && account !== undefined) {
      const step = accountStep(c, account, input.cost);
      // The account's concurrency slot is taken in the same trip, unless a route rate
      // still has a say (a refusal there would leave the slot taken for nothing).
      const slot =
        input.route?.rate === undefined
          ? { account: account.id, limit: step.plan.concurrency }
          : undefined;
      const both = store.windowThenGcra!(
        'ip:' + scope,
        c.ip,
        'acct:' + account.id,
        step.cost,
        step.params,
        now,
        slot,
      );
      return whenReady(both, (res) => afterIp(c, input, now, res.window, step, res.gcra));
    }
    const r = split
      ? store.windowIn!('ip:', scope, now, 1, c.ip)
      : store.window('ip:' + scope, now, 1, c.ip);
    // An answer in hand (the memory store) goes on without a closure.
    if (isAnswered(r)) return afterIp(c, input, now, r);
    return r.then((res) => afterIp(c, input, now, res));
  }

  /** The account's step: its plan, and the budget it is asked against. */
  function accountStep(c: Compiled, account: NonNullable<AdmitInput['account']>, cost: number) {
    const plan = c.plans.get(account.plan) ?? c.defaultPlan;
    const slowedFull = slowed.count(account.id) >= plan.maxSlowed;
    const maxDelayMs = slowedFull ? 0 : plan.maxDelayMs;
    const params = gcraParamsFor(accountRate(plan, account.size), plan, maxDelayMs);
    return { plan, slowedFull, cost: Math.max(0, cost || 0), params }; // negative or NaN: free
  }

  /** `step` and `asked`: the account's step, already taken with the window (windowThenGcra). */
  function afterIp(
    c: Compiled,
    input: AdmitInput,
    now: number,
    r: WindowResult,
    step?: ReturnType<typeof accountStep>,
    asked?: GcraResult,
  ) {
    const ip = c.ip;
    const ipLimit = limitState('ip', ip.block, c.ipWindowSec, r.remaining, r.resetMs);
    const warning: IpWarning | undefined = r.warn
      ? {
          ip: input.ip,
          count: r.allowed ? r.count : r.count + 1,
          limit: ip.warn,
          report: r.warnFirst,
        }
      : undefined;
    if (!r.allowed) {
      const counters = { ipRequests: r.count + 1, ipBlock: ip.block, ipWarn: ip.warn };
      return deny('ip-block', Math.ceil(r.retryAfterMs), counters, [ipLimit], warning);
    }
    const account = input.account;
    if (account === undefined) return allow([ipLimit], warning);
    const { plan, slowedFull, cost, params } = step ?? accountStep(c, account, input.cost);
    const a = asked ?? gcra('acct:', account.id, now, cost, params);
    // The common case, allowed with no route rate of its own, ends here without a Pending.
    if (isAnswered(a) && a.allowed && input.route?.rate === undefined) {
      return settle(a.delayMs, 'account-rate', [ipLimit, accountLimitOf(params, a)], warning);
    }
    const p: Pending = {
      c,
      input,
      account,
      now,
      cost,
      ipLimit,
      warning,
      plan,
      params,
      slowedFull,
      accountLimit: undefined,
      accountDelayMs: 0,
    };
    return whenReady(a, (res) => afterAccount(p, res));
  }

  function afterAccount(p: Pending, a: GcraResult): Decision | Promise<Decision> {
    const { account, params, plan } = p;
    const accountLimit = accountLimitOf(params, a);
    if (!a.allowed) {
      const unavoidable = Math.max(0, (p.cost - plan.burst) * params.emissionMs);
      const wait = a.retryAfterMs + unavoidable;
      const onlySlowed = p.slowedFull && wait <= Math.max(plan.maxDelayMs, unavoidable);
      const budget: AccountBudgetFacts = {
        account: account.id,
        plan: plan.name,
        size: account.size,
        rate: round2(params.limit),
        periodSec: params.periodMs / 1000,
        burst: plan.burst,
        cost: p.cost,
      };
      const limits = [p.ipLimit, accountLimit];
      const retryAfterMs = Math.ceil(a.retryAfterMs);
      return onlySlowed
        ? deny(
            'account-slowed',
            retryAfterMs,
            { ...budget, slowed: slowed.count(account.id), maxSlowed: plan.maxSlowed },
            limits,
            p.warning,
          )
        : deny(
            'account-rate',
            retryAfterMs,
            { ...budget, maxDelayMs: plan.maxDelayMs },
            limits,
            p.warning,
          );
    }
    const route = p.input.route;
    if (route?.rate === undefined) {
      return settle(a.delayMs, 'account-rate', [p.ipLimit, accountLimit], p.warning);
    }
    p.accountLimit = accountLimit;
    p.accountDelayMs = a.delayMs;
    const routeParams: GcraParams = {
      emissionMs: route.rate.periodMs / route.rate.limit,
      burst: route.rate.limit,
      maxDelayMs: p.slowedFull ? 0 : plan.maxDelayMs,
      limit: route.rate.limit,
      periodMs: route.rate.periodMs,
    };
    const r = gcra('route:', route.name + ':' + account.id, p.now, 1, routeParams);
    return whenReady(r, (res) => afterRoute(p, routeParams, res));
  }

  function afterRoute(p: Pending, params: GcraParams, r: GcraResult) {
    const route = p.input.route!;
    const routeLimit = limitState(
      'route-' + route.name,
      params.limit,
      params.periodMs / 1000,
      r.remaining,
      r.resetMs,
    );
    const limits = [p.ipLimit, p.accountLimit!, routeLimit];
    if (!r.allowed) {
      const counters: FactsOf<'route-rate'> = {
        route: route.name,
        account: p.account.id,
        routeRate: params.limit,
        periodSec: params.periodMs / 1000,
        ...(route.batch ? { routeClass: 'batch' as const } : {}),
        ...(route.incremental === undefined ? {} : { incremental: route.incremental }),
      };
      return deny('route-rate', Math.ceil(r.retryAfterMs), counters, limits, p.warning);
    }
    // Both slots are reserved; holding for the longer delay satisfies both limiters.
    return r.delayMs > p.accountDelayMs
      ? settle(r.delayMs, 'route-rate', limits, p.warning)
      : settle(p.accountDelayMs, 'account-rate', limits, p.warning);
  }

  function standing(
    account: NonNullable<AdmitInput['account']>,
    routes: readonly RouteInput[],
  ): Standing | Promise<Standing> {
    const c = compiled;
    const plan = c.plans.get(account.plan) ?? c.defaultPlan;
    const rate = accountRate(plan, account.size);
    const params = gcraParamsFor(rate, plan, 0);
    const now = clock.now();
    const rated = routes.filter((r) => r.rate !== undefined);
    const routeParams = rated.map(
      (r): GcraParams => ({
        emissionMs: r.rate!.periodMs / r.rate!.limit,
        burst: r.rate!.limit,
        maxDelayMs: 0,
        limit: r.rate!.limit,
        periodMs: r.rate!.periodMs,
      }),
    );
    // A cost of 0 moves no limiter: it reads the state, however the store keeps it.
    const asked = [
      gcra('acct:', account.id, now, 0, params),
      ...rated.map((r, i) => gcra('route:', r.name + ':' + account.id, now, 0, routeParams[i]!)),
    ];
    const done = (results: readonly GcraResult[]): Standing => {
      const a = results[0]!;
      // A request of cost 1 conforms once the state is within the burst of now.
      const delayMs = Math.max(0, Math.ceil(a.resetMs + params.emissionMs * (1 - plan.burst)));
      return {
        plan,
        rate,
        account: accountLimitOf(params, a),
        delayMs,
        routes: rated.map((r, i) => {
          const p = routeParams[i]!;
          const res = results[i + 1]!;
          return limitState(
            'route-' + r.name,
            p.limit,
            p.periodMs / 1000,
            res.remaining,
            res.resetMs,
          );
        }),
      };
    };
    return asked.every(isAnswered) ? done(asked as GcraResult[]) : Promise.all(asked).then(done);
  }

  return {
    admit,
    standing,
    slowedEnter: (accountId) => slowed.enter(accountId),
    slowedLeave: (accountId) => slowed.leave(accountId),
    setPolicy(policy) {
      compiled = compile(policy);
    },
    get policy() {
      return compiled.policy;
    },
  };
}

function compile(policy: Policy): Compiled {
  const block = policy.ip.block;
  // The warning threshold is expressed in the block window's period.
  const warn = (policy.ip.warn.limit * block.periodMs) / policy.ip.warn.periodMs;
  const defaultPlan = Object.hasOwn(policy.plans, policy.defaultPlan)
    ? policy.plans[policy.defaultPlan]
    : undefined;
  if (defaultPlan === undefined) {
    throw new SluiceError(
      'SLUICE_ERR_POLICY_INVALID',
      `the default plan "${policy.defaultPlan}" is not among the policy's plans`,
    );
  }
  return {
    policy,
    ip: { periodMs: block.periodMs, warn, block: block.limit },
    ipWindowSec: Math.ceil(block.periodMs / 1000),
    plans: new Map(Object.entries(policy.plans)),
    defaultPlan,
  };
}

function settle(
  delayMs: number,
  rule: 'account-rate' | 'route-rate',
  limits: readonly LimitState[],
  warning: IpWarning | undefined,
): Decision {
  if (delayMs > 0) return { outcome: 'delay', delayMs: Math.ceil(delayMs), rule, limits, warning };
  return allow(limits, warning);
}

function allow(limits: readonly LimitState[], warning: IpWarning | undefined): Decision {
  return { outcome: 'allow', limits, warning };
}

/**
 * A limit as the RateLimit headers carry it: whole numbers, reset rounded up and never
 * past the window (0 ≤ t ≤ w). The limiters' resetMs is when their state is empty, which
 * can be further than one window: the IP estimate weighs the previous fixed window, so a
 * request lingers in it up to two windows; a burst above the rate (20 at 10/min) or a
 * delayed request puts the GCRA further than a window from idle. Within one window w, q
 * units are restored in every case, which is what t announces.
 */
function limitState(
  policy: string,
  quota: number,
  windowSec: number,
  remaining: number,
  resetMs: number,
): LimitState {
  const w = Math.ceil(windowSec);
  return {
    policy,
    quota: Math.floor(quota),
    windowSec: w,
    remaining: Math.floor(remaining),
    resetSec: Math.min(w, Math.max(0, Math.ceil(resetMs / 1000))),
  };
}

function accountLimitOf(params: GcraParams, a: GcraResult): LimitState {
  return limitState('account', params.limit, params.periodMs / 1000, a.remaining, a.resetMs);
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
