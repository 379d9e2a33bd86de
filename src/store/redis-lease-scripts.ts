/**
 * The Lua scripts of per-account concurrency leases in Redis (redis-lease-queues.ts).
 * An account's leases are one sorted set: member = `<node>:<n>` (one running request),
 * score = when the lease expires, in the caller's milliseconds (time is an argument, as
 * in the limit scripts, so a manual clock drives them in tests). A lease not renewed
 * expires, so a node that dies mid-request frees its slots within the lease time.
 *
 * @example
 * await client.sluiceLeaseTake('sluice:c{acct:acme}', now, 10_000, 4, 'node1:7'); // 1: granted
 */

/**
 * The take, as a Lua function the admission script calls too (redis-limit-scripts.ts):
 * grants `members[from…]` while fewer than `limit` unexpired leases are held, after
 * dropping the expired ones; returns how many it granted (the first ones). The key itself
 * expires `ttl` after the last grant or renewal (Redis' time), so an account nobody uses
 * leaves nothing behind.
 */
export const LEASE_LIB = `
local function takeLeases(key, now, ttl, limit, members, from)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local free = limit - redis.call('ZCARD', key)
  local granted = 0
  for i = from, #members do
    if granted >= free then break end
    redis.call('ZADD', key, now + ttl, members[i])
    granted = granted + 1
  end
  if granted > 0 then redis.call('PEXPIRE', key, ttl) end
  return granted
end
`;

/**
 * Takes up to `#ARGV - 3` leases: KEYS[1] the account's set; ARGV now, ttl (ms), limit,
 * then one member per lease wanted. Returns how many were granted (the first ones).
 */
export const LEASE_TAKE_SCRIPT = `${LEASE_LIB}
return takeLeases(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV, 4)
`;

/**
 * Renews leases still running: KEYS[1] the account's set; ARGV now, ttl, then the
 * members. A lease Redis lost (a restart without persistence) is added again, so the
 * shared count comes back to what is really running.
 */
export const LEASE_RENEW_SCRIPT = `
local expiry = tonumber(ARGV[1]) + tonumber(ARGV[2])
for i = 3, #ARGV do
  redis.call('ZADD', KEYS[1], expiry, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return #ARGV - 2
`;

/** Unexpired leases of an account: KEYS[1] the set; ARGV now. For tests and metrics. */
export const LEASE_COUNT_SCRIPT = `
return redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf')
`;
