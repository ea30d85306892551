--[[
  Applies one tenant's events from one Kafka partition batch, atomically and exactly once.

  KEYS[1]  ml:{T}:wm:<partition>      hash: off (last applied source offset), maxts (max event time)
  KEYS[2]  ml:{T}:outbox:<partition>  list: JSON entries waiting to be published (rollups, corrections, alerts)

  ARGV[1]  key prefix "ml:{T}:" (every other key is built from it: same hash slot)
  ARGV[2]  source partition
  ARGV[3]  allowed lateness, ms
  ARGV[4]  dedup window, seconds
  ARGV[5]  the state epoch key (ml:epoch): absent means Redis lost the state; nothing is applied
  ARGV[6]  G, then G x (hour_ms, dims_json)                          rollup groups
  then     Q, then Q x (counter_suffix, expire_at_ms, meta_json, N, N x (threshold, trigger))
  then     V, then V x price_version_id                               price versions used in the call
  then     C, then C x error_class                                    error classes used in the call
  then     S, then S x status_class                                   status classes used in the call
  then     E, then the events packed in one binary string, E x:
             id_hash (12 bytes), then little-endian doubles: offset, group_index, occurred_at,
             input, cache_read, cache_write, output, reasoning, error_class (index, 0 = none),
             status_class (index), latency|-1, ttft|-1, cost_hi, cost_lo, charge_hi, charge_lo,
             savings_hi, savings_lo, cost_version, charge_version, K, K x quota_index
  then     the quota amounts of every event in order (sum of K), as decimal strings

  Packing the events' fixed fields in one argument (plan-batch.ts, EVENT_RECORD) saves the
  per-argument cost of ~30 arguments per event on both sides. Every packed number is an integer
  below 2^53, exact in a double.

  Money (pico-USD) comes split as hi * 10^6 + lo with 0 <= lo < 10^6, because Lua numbers are
  doubles: sums of hi and of lo stay below 2^53 (exact) where a sum of pico amounts would not.
  Rollup hashes keep the two parts in separate fields (cph/cpl, chh/chl, svh/svl); readers
  recombine them with integer arithmetic. cost_version / charge_version: the index (1..V) of the
  price version that priced that side, 0 when the side is unpriced. A rollup records the versions
  of its events as hash fields vc:<id> (cost) and vh:<id> (charge), written only when new
  (HSETNX once per group and version per call); readers list them.
  Quota amounts are decimal strings given to HINCRBY (exact int64); a threshold at or above 2^53
  is compared on the counter's exact decimal string. A counter saturates at 2^63 - 1.

  Events must come in offset order. An event whose offset is <= the watermark was applied
  before (a replay after a crash) and is skipped. A new event whose id was seen in its hour
  within the dedup window is a duplicate and counts nowhere. An event whose hour closed
  (hour + 1h + lateness <= max event time seen) is a correction: it goes to the outbox on its
  own, keyed by its offset; other events add to their hour's cumulative rollup, whose new
  value goes to the outbox. Quota counters add every counted event; a threshold crossed for
  the first time in a period puts one alert in the outbox.

  Returns { applied, duplicates, replayed, corrections, late, outbox_length }, or { -1 } when the
  epoch key is missing (the caller rebuilds the state, then retries).
  Note: the epoch key is global. On Redis Cluster it lives in another slot than the tenant's
  keys; there, give each shard its own epoch key in the tenant's slot before relying on this.
]]
local wmKey, outboxKey = KEYS[1], KEYS[2]
local prefix, partition = ARGV[1], ARGV[2]
local lateness = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local HOUR = 3600000
if redis.call('EXISTS', ARGV[5]) == 0 then return { -1 } end

local wmOff = tonumber(redis.call('HGET', wmKey, 'off') or '-1')
local maxts = tonumber(redis.call('HGET', wmKey, 'maxts') or '0')

local i = 6
local groups = {}
local G = tonumber(ARGV[i]); i = i + 1
for g = 1, G do
  groups[g] = { hour = ARGV[i], dims = ARGV[i + 1], touched = false,
    req = 0, inp = 0, cr = 0, cw = 0, out = 0, rs = 0, err = 0, lat = 0, latmax = 0, latn = 0,
    ttft = 0, ttftmax = 0, ttftn = 0, late = 0, ec = {}, sc = {},
    cph = 0, cpl = 0, chh = 0, chl = 0, svh = 0, svl = 0, upc = 0, uph = 0, vc = {}, vh = {} }
  i = i + 2
end

local quotas = {}
local Q = tonumber(ARGV[i]); i = i + 1
for q = 1, Q do
  local quota = { key = prefix .. 'q:' .. ARGV[i], expireAt = ARGV[i + 1], meta = ARGV[i + 2], triggers = {} }
  local n = tonumber(ARGV[i + 3]); i = i + 4
  for t = 1, n do
    quota.triggers[t] = { threshold = ARGV[i], at = tonumber(ARGV[i + 1]), atText = ARGV[i + 1] }
    i = i + 2
  end
  quotas[q] = quota
end

local versions = {}
local V = tonumber(ARGV[i]); i = i + 1
for v = 1, V do versions[v] = ARGV[i]; i = i + 1 end
local errorClasses = {}
local C = tonumber(ARGV[i]); i = i + 1
for c = 1, C do errorClasses[c] = ARGV[i]; i = i + 1 end
local statusClasses = {}
local S = tonumber(ARGV[i]); i = i + 1
for c = 1, S do statusClasses[c] = ARGV[i]; i = i + 1 end

-- Doubles are exact below 2^53; at or above it, compare the counter's exact decimal string.
local EXACT = 9007199254740992
local function reached(quota, used, trigger)
  if used < EXACT and trigger.at < EXACT then return used >= trigger.at end
  local text = redis.call('HGET', quota.key, 'used')
  if #text ~= #trigger.atText then return #text > #trigger.atText end
  return text >= trigger.atText
end
local function usedText(quota, used)
  if used < EXACT then return string.format('%d', used) end
  return redis.call('HGET', quota.key, 'used')
end
-- A counter stops at 2^63 - 1 (Redis's int64; $9.2M in pico-USD), at or past every valid limit.
-- Letting HINCRBY fail instead would abort the script after its first writes (dedup sets,
-- other counters), and the retry would then drop this call's events as duplicates.
local INT64_MAX = '9223372036854775807'
local function addUsed(quota, amount)
  local used = redis.pcall('HINCRBY', quota.key, 'used', amount)
  if type(used) == 'table' then
    if not string.find(used.err or '', 'overflow', 1, true) then error(used.err) end
    redis.call('HSET', quota.key, 'used', INT64_MAX)
    return tonumber(INT64_MAX)
  end
  return used
end

local applied, duplicates, replayed, corrections, late = 0, 0, 0, 0, 0
local lastOffset = wmOff
local seenTouched = {}
local E = tonumber(ARGV[i])
local packed = ARGV[i + 1]
i = i + 2 -- the first quota amount
local pos = 1
local EVENT = '<c12' .. string.rep('d', 21)
for e = 1, E do
  local idHash, offset, gi, at, inp, cr, cw, out, rs, eci, sci, lat, ttft, cph, cpl, chh, chl, svh, svl, cv, hv, K, nextPos =
    struct.unpack(EVENT, packed, pos)
  local quotaIndexAt, amountAt = nextPos, i
  pos = nextPos + 8 * K
  i = i + K
  local ec = eci > 0 and errorClasses[eci] or ''
  local sc = statusClasses[sci]

  if offset <= wmOff then
    replayed = replayed + 1
  else
    lastOffset = offset
    local group = groups[gi]
    local seenKey = prefix .. 'seen:' .. group.hour
    if redis.call('SADD', seenKey, idHash) == 0 then
      duplicates = duplicates + 1
    else
      seenTouched[seenKey] = true
      applied = applied + 1
      local hour = tonumber(group.hour)
      local isLate = hour + HOUR <= maxts
      if isLate then late = late + 1 end
      if hour + HOUR + lateness <= maxts then
        -- The hour closed: a correction row of its own, keyed by the event's offset.
        corrections = corrections + 1
        local f = { req = 1, ['in'] = inp, cr = cr, cw = cw, out = out, rs = rs,
          err = (ec ~= '' and 1 or 0), late = 1,
          lat = (lat >= 0 and lat or 0), latmax = (lat >= 0 and lat or 0), latn = (lat >= 0 and 1 or 0),
          ttft = (ttft >= 0 and ttft or 0), ttftmax = (ttft >= 0 and ttft or 0), ttftn = (ttft >= 0 and 1 or 0) }
        if ec ~= '' then f['e:' .. ec] = 1 end
        f['s:' .. sc] = 1
        -- Money as decimal strings: cjson writes numbers with 14 significant digits.
        f.cph = string.format('%d', cph); f.cpl = string.format('%d', cpl); f.chh = string.format('%d', chh)
        f.chl = string.format('%d', chl); f.svh = string.format('%d', svh); f.svl = string.format('%d', svl)
        if cv > 0 then f['vc:' .. versions[cv]] = 1 else f.upc = 1 end
        if hv > 0 then f['vh:' .. versions[hv]] = 1 else f.uph = 1 end
        redis.call('RPUSH', outboxKey, cjson.encode({ t = 'c', h = group.hour, d = group.dims, p = partition, o = string.format('%d', offset), f = f }))
      else
        group.touched = true
        group.req = group.req + 1
        group.inp = group.inp + inp; group.cr = group.cr + cr; group.cw = group.cw + cw
        group.out = group.out + out; group.rs = group.rs + rs
        if ec ~= '' then
          group.err = group.err + 1
          group.ec[ec] = (group.ec[ec] or 0) + 1
        end
        group.sc[sc] = (group.sc[sc] or 0) + 1
        if lat >= 0 then
          group.lat = group.lat + lat; group.latn = group.latn + 1
          if lat > group.latmax then group.latmax = lat end
        end
        if ttft >= 0 then
          group.ttft = group.ttft + ttft; group.ttftn = group.ttftn + 1
          if ttft > group.ttftmax then group.ttftmax = ttft end
        end
        if isLate then group.late = group.late + 1 end
        group.cph = group.cph + cph; group.cpl = group.cpl + cpl
        group.chh = group.chh + chh; group.chl = group.chl + chl
        group.svh = group.svh + svh; group.svl = group.svl + svl
        if cv > 0 then group.vc[cv] = true else group.upc = group.upc + 1 end
        if hv > 0 then group.vh[hv] = true else group.uph = group.uph + 1 end
      end
      if at > maxts then maxts = at end
      -- Quotas: counted event by event, so the crossing event (and its time) is exact.
      for k = 0, K - 1 do
        local quota = quotas[struct.unpack('<d', packed, quotaIndexAt + 8 * k)]
        local amount = ARGV[amountAt + k]
        local used = addUsed(quota, amount)
        if not quota.expiring then
          redis.call('PEXPIREAT', quota.key, quota.expireAt)
          quota.expiring = true
        end
        for _, trigger in ipairs(quota.triggers) do
          if reached(quota, used, trigger) and redis.call('HSETNX', quota.key, 'a:' .. trigger.threshold, string.format('%d', offset)) == 1 then
            redis.call('RPUSH', outboxKey, cjson.encode({ t = 'a', m = quota.meta, th = trigger.threshold,
              u = usedText(quota, used), at = string.format('%d', at), o = string.format('%d', offset), p = partition }))
          end
        end
      end
    end
  end
end

for key in pairs(seenTouched) do
  if redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, window) end
end

-- Cumulative rollups: add, then put the new running totals in the outbox.
local openKey = prefix .. 'open:' .. partition
for _, group in ipairs(groups) do
  if group.touched then
    local key = prefix .. 'r:' .. partition .. ':' .. group.hour .. ':' .. group.dims
    redis.call('HINCRBY', key, 'req', group.req)
    redis.call('HINCRBY', key, 'in', group.inp)
    redis.call('HINCRBY', key, 'cr', group.cr)
    redis.call('HINCRBY', key, 'cw', group.cw)
    redis.call('HINCRBY', key, 'out', group.out)
    redis.call('HINCRBY', key, 'rs', group.rs)
    redis.call('HINCRBY', key, 'err', group.err)
    redis.call('HINCRBY', key, 'lat', group.lat)
    redis.call('HINCRBY', key, 'latn', group.latn)
    redis.call('HINCRBY', key, 'ttft', group.ttft)
    redis.call('HINCRBY', key, 'ttftn', group.ttftn)
    redis.call('HINCRBY', key, 'late', group.late)
    redis.call('HINCRBY', key, 'cph', string.format('%d', group.cph))
    redis.call('HINCRBY', key, 'cpl', string.format('%d', group.cpl))
    redis.call('HINCRBY', key, 'chh', string.format('%d', group.chh))
    redis.call('HINCRBY', key, 'chl', string.format('%d', group.chl))
    redis.call('HINCRBY', key, 'svh', string.format('%d', group.svh))
    redis.call('HINCRBY', key, 'svl', string.format('%d', group.svl))
    if group.upc > 0 then redis.call('HINCRBY', key, 'upc', group.upc) end
    if group.uph > 0 then redis.call('HINCRBY', key, 'uph', group.uph) end
    for v in pairs(group.vc) do redis.call('HSETNX', key, 'vc:' .. versions[v], 1) end
    for v in pairs(group.vh) do redis.call('HSETNX', key, 'vh:' .. versions[v], 1) end
    for class, n in pairs(group.ec) do redis.call('HINCRBY', key, 'e:' .. class, n) end
    for class, n in pairs(group.sc) do redis.call('HINCRBY', key, 's:' .. class, n) end
    if group.latmax > tonumber(redis.call('HGET', key, 'latmax') or '0') then redis.call('HSET', key, 'latmax', group.latmax) end
    if group.ttftmax > tonumber(redis.call('HGET', key, 'ttftmax') or '0') then redis.call('HSET', key, 'ttftmax', group.ttftmax) end
    redis.call('ZADD', openKey, group.hour, group.hour .. ':' .. group.dims)
    local flat = redis.call('HGETALL', key)
    local f = {}
    for n = 1, #flat, 2 do f[flat[n]] = flat[n + 1] end
    redis.call('RPUSH', outboxKey, cjson.encode({ t = 'r', h = group.hour, d = group.dims, p = partition, v = string.format('%d', lastOffset), f = f }))
  end
end

-- Hours that closed are final (their last value is already in the outbox or published).
local closedUpTo = maxts - lateness - HOUR
for _, member in ipairs(redis.call('ZRANGEBYSCORE', openKey, '-inf', closedUpTo)) do
  redis.call('DEL', prefix .. 'r:' .. partition .. ':' .. member)
end
redis.call('ZREMRANGEBYSCORE', openKey, '-inf', closedUpTo)

if lastOffset > wmOff then
  redis.call('HSET', wmKey, 'off', string.format('%d', lastOffset), 'maxts', string.format('%d', maxts))
end
return { applied, duplicates, replayed, corrections, late, redis.call('LLEN', outboxKey) }
