/**
 * The limiter maths (src/core/limiter/gcra.ts and sliding-window.ts) in Lua, for Redis:
 * each script reads a key's state, applies one step and writes it back, atomically
 * (Redis runs a script alone). The caller passes `now`, so every node and the golden
 * vectors agree whatever Redis' own clock says.
 *
 * Numbers: Lua's are IEEE doubles like JavaScript's, and every operation below is the
 * same operation in the same order as the TypeScript, so the answers are bit-for-bit
 * the same. Two traps are avoided: Redis truncates a number a script returns to an
 * integer, and Lua's `tostring` keeps only 14 digits. So an answer that is a whole
 * number goes out as an integer reply (exact, and nothing to format or parse), any other
 * as `%.17g` text (exact for a double), and flags as 0/1; state is handed to
 * `redis.call` as numbers, which Redis writes as `%.17g` itself. An infinite emission
 * interval (a rate of 0) is passed as the text `inf`.
 *
 * State: a GCRA key holds its tat (text); a window key is a hash `s p c w` (start, prev,
 * curr, warnedStart). Each written key expires when its state would be no state: a GCRA
 * key at its tat, a window key two periods after its start (PX relative to `now`, set
 * when a period starts; within a period only `c`, and `w` when it changes, are written).
 *
 * @example
 * client.defineCommand('sluiceGcra', { numberOfKeys: 1, lua: GCRA_SCRIPT });
 */
import { LEASE_LIB } from './redis-lease-scripts.ts';

/** Helpers and both steps; each script below ends with its own call. */
const LIB = `
local EPS = 1e-6
local floor, ceil, huge, format = math.floor, math.ceil, math.huge, string.format
local function num(s) if s == 'inf' then return huge end return tonumber(s) end
-- An answer: a whole number as an integer reply (exact below 2^53, and no text to
-- format here nor to parse in Node), anything else as %.17g text.
local function fmt(x)
  if x == floor(x) and x > -9007199254740992 and x < 9007199254740992 then return x end
  return format('%.17g', x)
end

local function units(slack, t)
  if not (slack > -EPS) or not (t > 0) then return 0 end
  local u = floor((slack + EPS) / t)
  if u ~= u or u < 0 then return 0 end
  return u
end

local function gcra(key, now, cost, t, burst, maxDelayMs)
  local raw = redis.call('GET', key)
  local tat = nil
  if raw then tat = tonumber(raw) end
  local tau = burst * t
  local base = now
  if tat ~= nil and not (tat < now) then base = tat end
  local inc = cost * t
  local newTat = base + inc
  local wait = newTat - tau - now
  local unavoidable = 0
  if inc > tau then unavoidable = inc - tau end
  local maxDelay = maxDelayMs
  if maxDelayMs > 0 and unavoidable > maxDelayMs then maxDelay = unavoidable end
  if wait <= maxDelay + EPS then
    local ttl = ceil(newTat - now)
    if not (ttl >= 1) then ttl = 1 end
    redis.call('SET', key, newTat, 'PX', ttl)
    local delay = 0
    if wait > EPS then delay = wait end
    return {1, fmt(delay), 0, fmt(units(-wait, t)), fmt(newTat - now)}
  end
  local retry = wait - unavoidable
  if retry ~= retry or retry == huge or retry == -huge then retry = 0
  elseif retry < 0 then retry = 0 end
  local reset = 0
  if tat ~= nil and not (tat < now) then reset = tat - now end
  return {0, 0, fmt(retry), fmt(units(now - (base - tau), t)), fmt(reset)}
end

local function resetOf(start, p, prev, curr, now)
  if curr > 0 then return start + 2 * p - now end
  if prev > 0 then return start + p - now end
  return 0
end

local function remainingOf(left, p)
  if left > 0 then return floor(left / p) end
  return 0
end

local function retryAfter(start, p, prev, curr, cost, block, now)
  if cost > block then return 0 end
  local room = block - curr - cost
  local at
  if room >= 0 then at = start + p - floor((room * p) / prev)
  else at = start + 2 * p - floor(((block - cost) * p) / curr) end
  local r = ceil(at - now)
  if not (r > 0) then return 0 end
  return r
end

local function window(key, now, cost, p, warnAt, block)
  local st = redis.call('HMGET', key, 's', 'p', 'c', 'w')
  local sStart, sPrev, sCurr, sWarned = -huge, 0, 0, -1
  if st[1] then
    sStart = tonumber(st[1]); sPrev = tonumber(st[2]); sCurr = tonumber(st[3]); sWarned = tonumber(st[4])
  end
  local start = floor(now / p) * p
  local prev, curr = 0, 0
  if sStart >= start then
    start = sStart; prev = sPrev; curr = sCurr
  elseif sStart == start - p then
    prev = sCurr
  end
  local at = now
  if start > at then at = start end
  local scaled = prev * (start + p - at) + curr * p
  local after = scaled + cost * p
  local blockScaled = block * p
  local warn = 0
  if after > warnAt * p then warn = 1 end
  if after > blockScaled then
    return {0, fmt(ceil(scaled / p)), warn, 0,
      fmt(retryAfter(start, p, prev, curr, cost, block, now)),
      fmt(remainingOf(blockScaled - scaled, p)), fmt(resetOf(start, p, prev, curr, now))}
  end
  local first = 0
  local warned = sWarned
  if warn == 1 and sWarned ~= start then first = 1; warned = start end
  curr = curr + cost
  if sStart ~= start then
    -- A new period: all of the state, and its lifetime (two periods from its start).
    redis.call('HSET', key, 's', start, 'p', prev, 'c', curr, 'w', warned)
    redis.call('PEXPIRE', key, math.max(1, ceil(start + 2 * p - now)))
  elseif warned ~= sWarned then
    redis.call('HSET', key, 'c', curr, 'w', warned)
  else
    -- The common step: only the count moves; the key already expires at the period's end.
    redis.call('HSET', key, 'c', curr)
  end
  return {1, fmt(ceil(after / p)), warn, first, 0,
    fmt(remainingOf(blockScaled - after, p)), fmt(resetOf(start, p, prev, curr, now))}
end
`;

/** KEYS[1] the GCRA key; ARGV now, cost, emissionMs, burst, maxDelayMs. */
export const GCRA_SCRIPT = `${LIB}
return gcra(KEYS[1], num(ARGV[1]), num(ARGV[2]), num(ARGV[3]), num(ARGV[4]), num(ARGV[5]))
`;

/** KEYS[1] the window key; ARGV now, cost, periodMs, warn, block. */
export const WINDOW_SCRIPT = `${LIB}
return window(KEYS[1], num(ARGV[1]), num(ARGV[2]), num(ARGV[3]), num(ARGV[4]), num(ARGV[5]))
`;

/**
 * One admission decision: KEYS[1] the IP window, KEYS[2] the account's GCRA key; ARGV
 * now, window cost, periodMs, warn, block, GCRA cost, emissionMs, burst, maxDelayMs.
 * The GCRA step runs only when the window allowed (a request refused for its IP does
 * not spend the account's budget); its 5 answers follow the window's 7.
 */
export const WINDOW_THEN_GCRA_SCRIPT = `${LIB}
local now = num(ARGV[1])
local w = window(KEYS[1], now, num(ARGV[2]), num(ARGV[3]), num(ARGV[4]), num(ARGV[5]))
if w[1] == 0 then return w end
local g = gcra(KEYS[2], now, num(ARGV[6]), num(ARGV[7]), num(ARGV[8]), num(ARGV[9]))
for i = 1, #g do w[#w + 1] = g[i] end
return w
`;

/**
 * The GCRA step, then the account's concurrency lease when the step allowed without a
 * delay (a refused or delayed request takes none: a delayed one asks when its delay
 * ends), so a request that runs at once costs one round trip. KEYS[1] the GCRA key,
 * KEYS[2] the account's lease set (same hash tag: one slot on a Cluster); ARGV now,
 * cost, emissionMs, burst, maxDelayMs, lease ttl, lease limit, lease member. Its 5
 * answers, then 1 (the lease is the member's), 0 (the account is full) or -1 (none asked).
 */
const GCRA_LEASE = `
local function gcraLease(gKey, lKey, now, a)
  local g = gcra(gKey, now, num(ARGV[a]), num(ARGV[a + 1]), num(ARGV[a + 2]), num(ARGV[a + 3]))
  if g[1] == 1 and g[2] == 0 then
    g[6] = takeLeases(lKey, now, tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5]), {ARGV[a + 6]}, 1)
  else
    g[6] = -1
  end
  return g
end
`;

/** KEYS[1] the GCRA key, KEYS[2] the lease set; ARGV as GCRA_LEASE says. */
export const GCRA_LEASE_SCRIPT = `${LIB}${LEASE_LIB}${GCRA_LEASE}
return gcraLease(KEYS[1], KEYS[2], num(ARGV[1]), 2)
`;

/**
 * WINDOW_THEN_GCRA_SCRIPT taking the lease as GCRA_LEASE does: KEYS[1] the IP window,
 * KEYS[2] the GCRA key, KEYS[3] the lease set; ARGV those of WINDOW_THEN_GCRA_SCRIPT,
 * then lease ttl, limit and member. 7 answers, then 6 when the window allowed.
 * Leases this node freed since its last call ride along, first: KEYS[4…] their sets,
 * ARGV[13…] their members (one each), so a release costs no command of its own.
 */
export const WINDOW_GCRA_LEASE_SCRIPT = `${LIB}${LEASE_LIB}${GCRA_LEASE}
for i = 4, #KEYS do redis.call('ZREM', KEYS[i], ARGV[i + 9]) end
local now = num(ARGV[1])
local w = window(KEYS[1], now, num(ARGV[2]), num(ARGV[3]), num(ARGV[4]), num(ARGV[5]))
if w[1] == 0 then return w end
local g = gcraLease(KEYS[2], KEYS[3], now, 6)
for i = 1, #g do w[#w + 1] = g[i] end
return w
`;
