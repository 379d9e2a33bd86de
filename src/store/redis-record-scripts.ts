/**
 * The Lua scripts of the Redis record store (redis-record-store.ts). Each runs
 * atomically on the one server that holds the `{records}` hash tag, so a write and the
 * change sequence it moves are one step for every node, as a SQLite transaction is for
 * every process on one file.
 *
 * Every script gets `KEYS[1]` = `<prefix>{records}:seq` (so a Cluster routes it to the
 * records' slot) and `ARGV[1]` = `<prefix>{records}:`, the base of every other key it
 * touches; all those keys carry the same tag, hence the same slot.
 *
 * Keys under the base: `seq` (INCR), `accounts` / `keys` / `blocks` / `incidents`
 * (hashes of JSON by id, IP or reference), `keys:by-hash` (hash → key id), `accounts:seq`
 * / `keys:seq` / `blocks:seq` / `lifts:seq` (sorted sets by change sequence: a reader
 * pays for the rows changed since, not the rows stored), `blocks:until` (blocks with an
 * end, by end), `incidents:ended` and `incidents:account:<id>` (by endedAt), `audit` and
 * `audit:key:<id>` (by time, members `<16-digit order><JSON>`), `bulk:<owner,dataset>`
 * and `bulk-owner:<owner>` (export log by time).
 */

/**
 * Applies a batch of writes (ARGV[2], JSON), all of them or none: checks first (a key
 * hash another key holds refuses the batch with an error naming both), then writes,
 * each record change moving the sequence, and publishes the new sequence on
 * `<base>changes` when it moved. Returns the sequence.
 *
 * Operations: `account {id, v}`, `key {id, hash, v, unique}`, `block {ip, until, v}`,
 * `audit {at, keyId, v}`, `incident {ref, endedAt, account, v}`; `v` is the record's JSON.
 */
export const WRITE_SCRIPT = `
local base = ARGV[1]
local ops = cjson.decode(ARGV[2])
local taken = {}
for _, op in ipairs(ops) do
  if op.t == 'key' and op.unique then
    local holder = redis.call('HGET', base .. 'keys:by-hash', op.hash) or taken[op.hash]
    if holder and holder ~= op.id then
      return redis.error_reply('key ' .. op.id .. ': its hash is already the hash of key ' .. holder)
    end
    taken[op.hash] = op.id
  end
end
local seq = false
local function bump()
  seq = redis.call('INCR', KEYS[1])
  return seq
end
for _, op in ipairs(ops) do
  if op.t == 'account' then
    redis.call('HSET', base .. 'accounts', op.id, op.v)
    redis.call('ZADD', base .. 'accounts:seq', bump(), op.id)
  elseif op.t == 'key' then
    local old = redis.call('HGET', base .. 'keys', op.id)
    if old then
      local oldHash = cjson.decode(old).hash
      if oldHash ~= op.hash and redis.call('HGET', base .. 'keys:by-hash', oldHash) == op.id then
        redis.call('HDEL', base .. 'keys:by-hash', oldHash)
      end
    end
    redis.call('HSET', base .. 'keys', op.id, op.v)
    redis.call('HSET', base .. 'keys:by-hash', op.hash, op.id)
    redis.call('ZADD', base .. 'keys:seq', bump(), op.id)
  elseif op.t == 'block' then
    redis.call('HSET', base .. 'blocks', op.ip, op.v)
    redis.call('ZADD', base .. 'blocks:seq', bump(), op.ip)
    redis.call('ZREM', base .. 'lifts:seq', op.ip)
    if op['until'] then
      redis.call('ZADD', base .. 'blocks:until', op['until'], op.ip)
    else
      redis.call('ZREM', base .. 'blocks:until', op.ip)
    end
  elseif op.t == 'audit' then
    local n = redis.call('INCR', base .. 'audit:n')
    local member = string.format('%016d', n) .. op.v
    redis.call('ZADD', base .. 'audit', op.at, member)
    if op.keyId then redis.call('ZADD', base .. 'audit:key:' .. op.keyId, op.at, member) end
  elseif op.t == 'incident' then
    local old = redis.call('HGET', base .. 'incidents', op.ref)
    if old then
      local was = cjson.decode(old).subject.accountId
      if was and was ~= op.account then
        redis.call('ZREM', base .. 'incidents:account:' .. was, op.ref)
      end
    end
    redis.call('HSET', base .. 'incidents', op.ref, op.v)
    redis.call('ZADD', base .. 'incidents:ended', op.endedAt, op.ref)
    if op.account then
      redis.call('ZADD', base .. 'incidents:account:' .. op.account, op.endedAt, op.ref)
    end
  end
end
if seq then
  redis.call('PUBLISH', base .. 'changes', seq)
  return seq
end
return tonumber(redis.call('GET', KEYS[1]) or '0')
`;

/** Lifts the block of ARGV[2]: 0 when there was none (nothing moves), else 1. */
export const LIFT_SCRIPT = `
local base = ARGV[1]
local ip = ARGV[2]
if redis.call('HDEL', base .. 'blocks', ip) == 0 then return 0 end
redis.call('ZREM', base .. 'blocks:seq', ip)
redis.call('ZREM', base .. 'blocks:until', ip)
local seq = redis.call('INCR', KEYS[1])
redis.call('ZADD', base .. 'lifts:seq', seq, ip)
redis.call('PUBLISH', base .. 'changes', seq)
return 1
`;

/** Deletes the blocks that ended before ARGV[2] (ms); the number deleted. No sequence move. */
export const PRUNE_SCRIPT = `
local base = ARGV[1]
local ended = redis.call('ZRANGEBYSCORE', base .. 'blocks:until', '-inf', '(' .. ARGV[2])
for _, ip in ipairs(ended) do
  redis.call('HDEL', base .. 'blocks', ip)
  redis.call('ZREM', base .. 'blocks:seq', ip)
  redis.call('ZREM', base .. 'blocks:until', ip)
end
return #ended
`;

/**
 * Everything changed after ARGV[2] from one snapshot: `{seq, keys, accounts, blocks,
 * lifted}`, each list of JSON (lifted: IPs) in order of change. With ARGV[3] = '1',
 * keys only.
 */
export const CHANGES_SCRIPT = `
local base = ARGV[1]
local after = '(' .. ARGV[2]
local function changed(index, hash)
  local out = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', base .. index, after, '+inf')) do
    local v = redis.call('HGET', base .. hash, id)
    if v then out[#out + 1] = v end
  end
  return out
end
local seq = redis.call('GET', KEYS[1]) or '0'
if ARGV[3] == '1' then return {seq, changed('keys:seq', 'keys'), {}, {}, {}} end
return {seq, changed('keys:seq', 'keys'), changed('accounts:seq', 'accounts'),
  changed('blocks:seq', 'blocks'), redis.call('ZRANGEBYSCORE', base .. 'lifts:seq', after, '+inf')}
`;

/** The JSON of the key whose hash is ARGV[2], or nil. */
export const KEY_BY_HASH_SCRIPT = `
local id = redis.call('HGET', ARGV[1] .. 'keys:by-hash', ARGV[2])
if not id then return false end
return redis.call('HGET', ARGV[1] .. 'keys', id)
`;

/**
 * Takes one bulk export (the sliding log of bulk-log.ts, kept in sorted sets):
 * KEYS[2] = the (owner, dataset) log, KEYS[3] = the owner's log (every dataset);
 * ARGV[2] now, ARGV[3] limit, ARGV[4] periodMs, ARGV[5] dataset. Forgets exports at or
 * before now - period, counts the rest, records this one if fewer than `limit` count.
 * Returns `{allowed 0|1, used, the time of the export whose leaving frees one or ''}`,
 * as `bulkVerdict` decides.
 */
export const BULK_SCRIPT = `
local base = ARGV[1]
local now = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local cutoff = now - tonumber(ARGV[4])
local dataset = ARGV[5]
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', cutoff)) do
  redis.call('ZREM', KEYS[3], id .. '\\n' .. dataset)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', cutoff)
local counted = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
local used = #counted / 2
if used < limit then
  local id = string.format('%016d', redis.call('INCR', base .. 'bulk:n'))
  redis.call('ZADD', KEYS[2], now, id)
  redis.call('ZADD', KEYS[3], now, id .. '\\n' .. dataset)
  return {1, used, ''}
end
local i = used - math.ceil(limit)
if i < 0 or i >= used then return {0, used, ''} end
return {0, used, counted[2 * i + 2]}
`;
