/**
 * The Lua scripts of the safeguards' counts in Redis (redis-tally.ts). Per rule and
 * subject, two keys on one Cluster slot (hash tag `{<rule>:<subject>}`):
 * - counts, a hash of bucket index → observations (the buckets of sliding-count.ts:
 *   index = floor(now / bucketMs), the window is the last `n` indexes), and the bucket
 *   size in field `ms`: a policy changing the window starts new counts;
 * - offences, a hash `n` (offences so far), `last` (the latest), `quiet` (ignored until).
 * Time is the caller's, as in the limit scripts.
 *
 * @example
 * await client.sluiceTallyAdd(countsKey, offencesKey, now, windowMs, bucketMs, n, threshold, historyMs, 3_600_000);
 */

/**
 * Counts one observation. KEYS counts, offences; ARGV now, windowMs, bucketMs, n,
 * threshold, historyMs, then the quiet time after the 1st, 2nd… offence (the last
 * repeats). Returns {-1, 0} while the subject is ignored (serving its block or
 * suspension), else {total, offence}: offence 0 below the threshold; reaching it, the
 * count restarts and the offence is recorded, so exactly one observation claims it.
 */
export const TALLY_ADD_SCRIPT = `
local now = tonumber(ARGV[1])
local windowMs = tonumber(ARGV[2])
local bucketMs = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local threshold = tonumber(ARGV[5])
local historyMs = tonumber(ARGV[6])
local off = redis.call('HMGET', KEYS[2], 'n', 'last', 'quiet')
local count = tonumber(off[1]) or 0
local last = tonumber(off[2]) or 0
local quiet = tonumber(off[3]) or 0
if count > 0 and now < quiet then return {-1, 0} end
if tonumber(redis.call('HGET', KEYS[1], 'ms')) ~= bucketMs then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'ms', bucketMs)
end
local index = math.floor(now / bucketMs)
redis.call('HINCRBY', KEYS[1], index, 1)
local fields = redis.call('HGETALL', KEYS[1])
local total = 0
for i = 1, #fields, 2 do
  if fields[i] == 'ms' then
    -- the bucket size, not a bucket
  elseif tonumber(fields[i]) <= index - n then
    redis.call('HDEL', KEYS[1], fields[i])
  else
    -- a bucket ahead of now (another node's clock a little ahead) counts too
    total = total + tonumber(fields[i + 1])
  end
end
if total < threshold then
  redis.call('PEXPIRE', KEYS[1], windowMs)
  return {total, 0}
end
redis.call('DEL', KEYS[1])
local forgotten = now - last >= historyMs and now >= quiet
local offence = 1
if count > 0 and not forgotten then offence = count + 1 end
local q = tonumber(ARGV[6 + math.min(offence, #ARGV - 6)])
redis.call('HSET', KEYS[2], 'n', offence, 'last', now, 'quiet', now + q)
redis.call('PEXPIRE', KEYS[2], historyMs + q)
return {total, offence}
`;

/**
 * Forgives a subject under one rule: KEYS counts, offences; ARGV 1 to forget offences too, 0 to end only what
 * is being served.
 */
export const TALLY_FORGIVE_SCRIPT = `
redis.call('DEL', KEYS[1])
if ARGV[1] == '1' then
  redis.call('DEL', KEYS[2])
elseif redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'quiet', redis.call('HGET', KEYS[2], 'last'))
end
return 1
`;
