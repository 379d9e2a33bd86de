/**
 * Throttles failed admin logins per client IP, so the admin token cannot be guessed at
 * network speed: the 10th failure within a minute locks that IP out for 5 minutes.
 * During a lockout the token is not even checked (a correct guess must not show), so
 * the listener answers 429 with Retry-After. Pure: time comes from the injected clock.
 *
 * Ten a minute leaves room for a person fumbling a pasted token and for a script with a
 * stale one retrying; a guesser gets 10 tries per 5 minutes per IP, under 3,000 a day,
 * against a token of 16 characters or more.
 */
import type { Clock } from './clock.ts';
import { BoundedMap } from './safeguard/bounded-map.ts';

/** The numbers, as documented in docs/operations.md. */
export const LOGIN_THROTTLE = { maxFailures: 10, windowMs: 60_000, lockoutMs: 300_000 } as const;

export type LoginCheck = { allowed: true } | { allowed: false; retryAfterMs: number };

export interface LoginThrottle {
  /** May this IP try a token now? */
  check(ip: string): LoginCheck;
  /** Records a failed token check; `locked` when it started a lockout. */
  fail(ip: string): { failures: number; locked: boolean };
  /** A correct token: the IP's earlier failures are forgotten. */
  succeed(ip: string): void;
  /** IPs remembered now (bounded by `maxTracked`). */
  tracked(): number;
}

interface Failures {
  /** Start of the counting window: the first failure in it. */
  since: number;
  count: number;
  lockedUntil: number;
}

/**
 * @example
 * const throttle = createLoginThrottle({ clock: systemClock });
 * const c = throttle.check(ip);
 * if (!c.allowed) reply429(c.retryAfterMs);
 * else if (!tokenOk) throttle.fail(ip);
 */
export function createLoginThrottle(options: {
  clock: Clock;
  /** IPs remembered at most; the least recently failing are forgotten first. */
  maxTracked?: number;
}): LoginThrottle {
  const { clock } = options;
  const { maxFailures, windowMs, lockoutMs } = LOGIN_THROTTLE;
  const ips = new BoundedMap<Failures>(options.maxTracked ?? 10_000);
  return {
    check(ip) {
      const f = ips.get(ip);
      const now = clock.now();
      if (f === undefined || f.lockedUntil <= now) return { allowed: true };
      return { allowed: false, retryAfterMs: f.lockedUntil - now };
    },
    fail(ip) {
      const now = clock.now();
      let f = ips.get(ip);
      if (
        f === undefined ||
        now - f.since >= windowMs ||
        (f.lockedUntil > 0 && f.lockedUntil <= now)
      ) {
        f = { since: now, count: 0, lockedUntil: 0 };
      }
      f.count++;
      const locked = f.count >= maxFailures && f.lockedUntil === 0;
      if (locked) f.lockedUntil = now + lockoutMs;
      ips.set(ip, f);
      return { failures: f.count, locked };
    },
    succeed(ip) {
      ips.delete(ip);
    },
    tracked: () => ips.size,
  };
}
