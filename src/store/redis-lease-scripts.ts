/**
 * The Lua scripts of per-account concurrency leases in Redis (redis-lease-queues.ts).
 * An account's leases are one sorted set: member = `<node>:<n>` (one running request),
 * score = when the lease expires, in the caller's milliseconds (time is an argument, as
 * in the limit scripts, so a manual clock drives them in tests). A lease not renewed
 * expires, so a node that dies mid-request frees its slots within the lease time.
 *
 * @example
 * await client.sluiceLeaseTake('sluice:c{acme}', now, 10_000, 4, 'node1:7'); // 1: granted
 */

/**
 * Takes up to `#ARGV - 3` leases while fewer than `limit` unexpired ones are held:
 * KEYS[1] the account's set; ARGV now, ttl (ms), limit, then one member per lease
 * wanted. Drops expired leases first. Returns how many were granted (the first ones).
 * The key itself expires `ttl` after the last grant or renewal (Redis' time), so an
 * account nobody uses leaves nothing behind.
 */
export const LEASE_TAKE_SCRIPT = `
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local free = limit - redis.call('ZCARD', KEYS[1])
local granted = 0
for i = 4, #ARGV do
  if granted >= free then break end
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
  granted = granted + 1
end
if granted > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return granted
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
