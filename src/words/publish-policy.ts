/**
 * The effective policy in machine-readable form, published at `/.well-known/sluice` so
 * that clients (the cooperative SDK first) can pace themselves: per-IP thresholds, each
 * plan's budget formula and queue, route classes and costs, the bulk allowance, and the
 * off-hours windows with the current and next window as absolute instants; whether
 * limits are enforced or only shadowed (the policy's `mode`, and a plan's or route's
 * where it differs); and where the key is sent (`credentials`, as the policy file writes
 * them). Nothing secret is in it: no webhook, no trusted proxy, no admin setting, no
 * delegate.
 */

import type { CredentialSource, Policy, Rate } from '../core/policy/types.ts';
import { formatDuration, formatRate } from '../core/policy/units.ts';
import { describeWindows, offHoursAt } from '../core/schedule/index.ts';

function rate(r: Rate) {
  return { limit: r.limit, periodSec: r.periodMs / 1000, text: formatRate(r) };
}

/** A credential source as the policy file writes it: `{ header: 'X-API-Key' }`. */
function credential(c: CredentialSource) {
  if (c.kind === 'authorization') return { authorization: c.scheme };
  return c.kind === 'header' ? { header: c.label ?? c.name } : { query: c.name };
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** Builds the document for `now` (the windows are relative to it). */
export function publishPolicy(policy: Policy, now: number) {
  const state = offHoursAt(policy.offHours, now);
  return {
    version: 1,
    generatedAt: iso(now),
    headers: {
      rateLimit: 'draft-ietf-httpapi-ratelimit-headers-10 (RateLimit, RateLimit-Policy)',
      delayed: 'Sluice-Delay-Ms',
      warning: 'Sluice-Warning',
      shadow: 'Sluice-Shadow',
    },
    mode: policy.mode,
    credentials: policy.identity.credentials.map(credential),
    ip: {
      warn: rate(policy.ip.warn),
      block: rate(policy.ip.block),
      concurrency: policy.ip.concurrency,
    },
    paths: { caseSensitive: policy.server.caseSensitiveRoutes },
    defaultPlan: policy.defaultPlan,
    plans: Object.fromEntries(
      Object.values(policy.plans).map((p) => [
        p.name,
        {
          rate: {
            base: rate(p.base),
            perUnit: rate(p.perUnit),
            min: rate(p.min),
            max: rate(p.max),
          },
          formula: 'clamp(base + perUnit x account size, min, max)',
          burst: p.burst,
          maxDelaySec: p.maxDelayMs / 1000,
          maxSlowed: p.maxSlowed,
          concurrency: p.concurrency,
          queue: p.queue,
          queueTimeoutSec: p.queueTimeoutMs / 1000,
          // Only where it differs: absent, the policy's mode applies.
          ...(p.mode !== undefined && p.mode !== policy.mode ? { mode: p.mode } : {}),
        },
      ]),
    ),
    routes: policy.routes.map((r) => ({
      name: r.name,
      methods: r.methods,
      path: r.path,
      query: r.query,
      class: r.class,
      cost: r.cost,
      rate: r.rate === undefined ? null : rate(r.rate),
      ...(r.class === 'bulk' ? { dataset: r.dataset } : {}),
      // A route's own mode wins over the plan's, so it is published whenever it is set.
      ...(r.mode !== undefined ? { mode: r.mode } : {}),
    })),
    bulk: { allow: rate(policy.bulk.allow), period: formatDuration(policy.bulk.allow.periodMs) },
    offHours: {
      timeZone: policy.offHours.timeZone,
      windows: describeWindows(policy.offHours),
      batchMultiplier: policy.offHours.batchMultiplier,
      confineBatch: policy.offHours.confineBatch,
      inWindow: state.inWindow,
      current:
        state.current === undefined
          ? null
          : { start: iso(state.current.start), end: iso(state.current.end) },
      next:
        state.next === undefined
          ? null
          : { start: iso(state.next.start), end: iso(state.next.end) },
    },
  };
}
