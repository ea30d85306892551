--[[
  Applies one tenant's events from one Kafka partition batch, atomically and exactly once.

  Key names and hash fields come from LAYOUT (libs/redis/src/layout.ts, prepended by the loader);
  the short names below are its values.

  KEYS[1]  ml:{T}:wm:<partition>      hash: off (last applied source offset), maxts (max event time)
  KEYS[2]  ml:{T}:outbox:<partition>  list: JSON entries waiting to be published (rollups, corrections, alerts)

  ARGV[1]  key prefix "ml:{T}:" (every other key is built from it: same hash slot)
  ARGV[2]  source partition
  ARGV[3]  allowed lateness, ms
  ARGV[4]  dedup window, seconds
  ARGV[5]  the state epoch key (ml:epoch): absent means Redis lost the state; nothing is applied
  ARGV[6]  G, then G x (hour_ms, dims_json, sums)                    rollup groups
  then     Q, then Q x (counter_suffix, expire_at_ms, meta_json, total, N, N x (threshold, trigger))
  then     V, then V x price_version_id                               price versions used in the call
  then     C, then C x error_class                                    error classes used in the call
  then     S, then S x status_class                                   status classes used in the call
  then     U, then U x unit_name                                      units used in the call
  then     the latest occurred_at of the call's events
  then     E, then the events packed in one binary string (little-endian), E x:
             c12 id_hash, d offset, I4 group_index, d occurred_at,
             d input, d cache_read, d cache_write, d cache_write_1h, d output, d reasoning,
             d audio_input, d audio_output, d image_input, d image_output,
             B error_class (index, 0 = none), B status_class (index),
             d latency|-1, d ttft|-1 (whole microseconds),
             d cost_hi, I4 cost_lo, d charge_hi, I4 charge_lo, d savings_hi, I4 savings_lo,
             H cost_version, H charge_version, H K,
             then K x (I4 quota_index, d amount|-1),
             then H N, N x (H unit index, d count)
  then     the quota amounts the packed record could not hold exactly (-1 there), in event order,
           as decimal strings

  A group's `sums` are what all its events in the call add up to, packed: 26 doubles (requests,
  input, cache_read, cache_write, cache_write_1h, output, reasoning, audio_input, audio_output,
  image_input, image_output, errors, latency sum, latency count, latency max, ttft sum, ttft
  count, ttft max, cost hi/lo, charge hi/lo, savings hi/lo, unpriced cost events, unpriced
  charge events), then five lists, each H n + n x (H index, d count): error classes, status
  classes, cost versions, charge versions, units (summed counts). Empty when a sum
  would pass 2^53 (the group is then summed here event by event). A quota slot's `total` is
  the sum of its amounts in the call, -1 when one of them or the sum is past a double.

  The events' fields travel packed in one argument (plan-batch.ts writes EVENT_FORMAT): per
  argument, both ioredis and Redis cost more than its bytes. Every packed number is an integer,
  and every double one below 2^53, exact.

  Money (pico-USD) comes split as hi * 10^6 + lo with 0 <= lo < 10^6, because Lua numbers are
  doubles: sums of hi and of lo stay below 2^53 (exact) where a sum of pico amounts would not.
  Rollup hashes keep the two parts in separate fields (cph/cpl, chh/chl, svh/svl); readers
  recombine them with integer arithmetic. cost_version / charge_version: the index (1..V) of the
  price version that priced that side, 0 when the side is unpriced. A rollup records the versions
  of its events as hash fields vc:<id> (cost) and vh:<id> (charge); readers list them. Units are
  hash fields u:<name> (summed counts). Latency and ttft are summed in whole microseconds in
  latu/latumax/ttftu/ttftumax (lat/latmax/ttft/ttftmax are whole milliseconds of state written
  before usage-event v2; readers add both).

  Events must come in offset order. An event whose offset is <= the watermark was applied
  before (a replay after a crash) and is skipped. A new event whose id was seen in its hour
  within the dedup window is a duplicate and counts nowhere. An event whose hour closed
  (hour + 1h + lateness <= max event time seen) is a correction: it goes to the outbox on its
  own, keyed by its offset; other events add to their hour's cumulative rollup, whose new
  value goes to the outbox. Quota counters add every counted event; a threshold crossed for
  the first time in a period puts one alert in the outbox.

  Cost: Redis runs one script at a time, so its work per event is kept small. Dedup asks each
  hour's set once per call (SMISMEMBER, then one SADD). A group whose hour no event of the
  call can make late starts from the caller's sums and takes back only the events that do not
  count (duplicates, replays); other groups are summed event by event. A quota counter (and its
  alert flags) is read once per call; when the call's total crosses no threshold not yet
  alerted and keeps it below 2^53, it is added at once, else the events are walked one by one
  (summed in Lua below 2^53; past it, each amount goes through HINCRBY and thresholds compare
  the exact decimal string). A rollup hash is read once (HGETALL) and written once (HSET).

  Returns { applied, duplicates, replayed, corrections, late, outbox_length }, or { -1 } when the
  epoch key is missing (the caller rebuilds the state, then retries).
  Note: the epoch key is global. On Redis Cluster it lives in another slot than the tenant's
  keys; there, give each shard its own epoch key in the tenant's slot before relying on this.
]]
local wmKey, outboxKey = KEYS[1], KEYS[2]
local TK, WM, QC, RF = LAYOUT.tenantKeys, LAYOUT.watermark, LAYOUT.quotaCounter, LAYOUT.rollup
local prefix, partition = ARGV[1], ARGV[2]
local lateness = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local HOUR = 3600000
if redis.call('EXISTS', ARGV[5]) == 0 then return { -1 } end

local wmOff = tonumber(redis.call('HGET', wmKey, WM.offset) or '-1')
local maxts = tonumber(redis.call('HGET', wmKey, WM.maxEventTime) or '0')

local i = 6
local EXACT = 9007199254740992 -- doubles are exact below 2^53
local SUMS = '<dddddddddddddddddddddddddd' -- a group's sums (see below), then its five count lists

local groups = {}
local G = tonumber(ARGV[i]); i = i + 1
for g = 1, G do
  groups[g] = { hour = ARGV[i], dims = ARGV[i + 1], sums = ARGV[i + 2], touched = false,
    req = 0, inp = 0, cr = 0, cw = 0, cw1 = 0, out = 0, rs = 0, ai = 0, ao = 0, ii = 0, io = 0,
    err = 0, lat = 0, latmax = 0, latn = 0, ttft = 0, ttftmax = 0, ttftn = 0, late = 0, ec = {}, sc = {}, un = {},
    cph = 0, cpl = 0, chh = 0, chl = 0, svh = 0, svl = 0, upc = 0, uph = 0, vc = {}, vh = {} }
  i = i + 3
end

local quotas = {}
local Q = tonumber(ARGV[i]); i = i + 1
for q = 1, Q do
  local quota = { key = prefix .. TK.quotaCounter .. ARGV[i], expireAt = ARGV[i + 1], meta = ARGV[i + 2], total = tonumber(ARGV[i + 3]), triggers = {} }
  local n = tonumber(ARGV[i + 4]); i = i + 5
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
local unitNames = {}
local U = tonumber(ARGV[i]); i = i + 1
for u = 1, U do unitNames[u] = ARGV[i]; i = i + 1 end

local maxAtInCall = tonumber(ARGV[i])
local E = tonumber(ARGV[i + 1])
local packed = ARGV[i + 2]
local bigAmountAt = i + 3 -- the next amount the packed record could not hold
local EVENT = '<c12 d I4 d dddddddddd B B d d d I4 d I4 d I4 H H H'
local FIXED = 172 -- bytes of EVENT
local K_AT = 170 -- where K sits in it
local LAT_AT = 114 -- where latency sits in it (ttft follows)
local QUOTA_ENTRY = '<I4 d'
local UNIT_ENTRY = '<H d'

-- An event's units: { name, count, name, count, ... } (read after its K quota entries).
local function unitsOf(start, K)
  local at = start + FIXED + 12 * K
  local n = struct.unpack('<H', packed, at)
  local out = {}
  at = at + 2
  for u = 1, n do
    local index, count = struct.unpack(UNIT_ENTRY, packed, at)
    out[2 * u - 1], out[2 * u] = unitNames[index], count
    at = at + 10
  end
  return out
end

-- redis.call takes its arguments on Lua's C stack (8,000 slots): long lists go in slices.
local SLICE = 4000
local function callSliced(command, key, list)
  local last
  for from = 1, #list, SLICE do
    last = redis.call(command, key, unpack(list, from, math.min(from + SLICE - 1, #list)))
  end
  return last
end

local outbox = {}

-- Pass 1, dedup: which new events are first seen. Each hour's set is asked once.
local starts, groupOf, timeOf = {}, {}, {}
local isNew = {} -- by event: true = counts, false = duplicate, nil = replayed
local askBySet = {}
local lastOffset = wmOff
local pos = 1
for e = 1, E do
  local idHash, offset, gi, at = struct.unpack('<c12 d I4 d', packed, pos)
  starts[e], groupOf[e], timeOf[e] = pos, gi, at
  local unitsAt = pos + FIXED + 12 * struct.unpack('<H', packed, pos + K_AT)
  pos = unitsAt + 2 + 10 * struct.unpack('<H', packed, unitsAt)
  if offset > wmOff then
    lastOffset = offset
    local group = groups[gi]
    local ask = askBySet[group.hour]
    if ask == nil then
      ask = { key = prefix .. TK.seen .. group.hour, ids = {}, events = {} }
      askBySet[group.hour] = ask
    end
    ask.ids[#ask.ids + 1] = idHash
    ask.events[#ask.events + 1] = e
  end
end
local duplicates = 0
for _, ask in pairs(askBySet) do
  local found = {}
  for from = 1, #ask.ids, SLICE do
    local part = redis.call('SMISMEMBER', ask.key, unpack(ask.ids, from, math.min(from + SLICE - 1, #ask.ids)))
    for n = 1, #part do found[from + n - 1] = part[n] end
  end
  local fresh, inCall = {}, {}
  for n, id in ipairs(ask.ids) do
    if found[n] == 0 and not inCall[id] then
      inCall[id] = true
      fresh[#fresh + 1] = id
      isNew[ask.events[n]] = true
    else
      isNew[ask.events[n]] = false
      duplicates = duplicates + 1
    end
  end
  if #fresh > 0 then
    callSliced('SADD', ask.key, fresh)
    if redis.call('TTL', ask.key) < 0 then redis.call('EXPIRE', ask.key, window) end
  end
end

-- Adds (sign 1) or takes back (sign -1) one event in its group's running sums (maxima aside).
local function accumulate(group, sign, inp, cr, cw, cw1, out, rs, ai, ao, ii, io, units, ec, sc, lat, ttft, cph, cpl, chh, chl, svh, svl, cv, hv)
  group.req = group.req + sign
  group.inp = group.inp + sign * inp; group.cr = group.cr + sign * cr; group.cw = group.cw + sign * cw
  group.cw1 = group.cw1 + sign * cw1; group.out = group.out + sign * out; group.rs = group.rs + sign * rs
  group.ai = group.ai + sign * ai; group.ao = group.ao + sign * ao; group.ii = group.ii + sign * ii; group.io = group.io + sign * io
  for u = 1, #units, 2 do group.un[units[u]] = (group.un[units[u]] or 0) + sign * units[u + 1] end
  if ec ~= '' then
    group.err = group.err + sign
    group.ec[ec] = (group.ec[ec] or 0) + sign
  end
  group.sc[sc] = (group.sc[sc] or 0) + sign
  if lat >= 0 then group.lat = group.lat + sign * lat; group.latn = group.latn + sign end
  if ttft >= 0 then group.ttft = group.ttft + sign * ttft; group.ttftn = group.ttftn + sign end
  group.cph = group.cph + sign * cph; group.cpl = group.cpl + sign * cpl
  group.chh = group.chh + sign * chh; group.chl = group.chl + sign * chl
  group.svh = group.svh + sign * svh; group.svl = group.svl + sign * svl
  if cv > 0 then group.vc[cv] = (group.vc[cv] or 0) + sign else group.upc = group.upc + sign end
  if hv > 0 then group.vh[hv] = (group.vh[hv] or 0) + sign else group.uph = group.uph + sign end
end

-- A group whose hour cannot be late for any event of this call (hour + 1h is past every event
-- time the watermark can reach in it) starts from the sums the caller computed over all its
-- events; the events that do not count (duplicates, replays) are taken back below. Other
-- groups are summed event by event (late events, corrections).
local bound = math.max(maxts, maxAtInCall)
for _, group in ipairs(groups) do
  if group.sums ~= '' and tonumber(group.hour) + HOUR > bound then
    group.fast = true
    local s = { struct.unpack(SUMS, group.sums) }
    group.req, group.inp, group.cr, group.cw, group.cw1, group.out, group.rs = s[1], s[2], s[3], s[4], s[5], s[6], s[7]
    group.ai, group.ao, group.ii, group.io, group.err = s[8], s[9], s[10], s[11], s[12]
    group.lat, group.latn, group.latmax, group.ttft, group.ttftn, group.ttftmax = s[13], s[14], s[15], s[16], s[17], s[18]
    group.cph, group.cpl, group.chh, group.chl, group.svh, group.svl, group.upc, group.uph = s[19], s[20], s[21], s[22], s[23], s[24], s[25], s[26]
    local at = s[27]
    for _, list in ipairs({ { group.ec, errorClasses }, { group.sc, statusClasses }, { group.vc }, { group.vh }, { group.un, unitNames } }) do
      local n
      n, at = struct.unpack('<H', group.sums, at)
      for _ = 1, n do
        local index, count
        index, count, at = struct.unpack('<H d', group.sums, at)
        list[1][list[2] and list[2][index] or index] = count
      end
    end
  end
end

-- Quotas: read once per call (counter and alert flags). A quota whose counted total in this
-- call reaches no threshold not yet alerted, and keeps the counter below 2^53, is added at
-- once; others are walked event by event so the crossing event (and its time) is exact.
-- Past 2^53 each amount goes through HINCRBY and thresholds compare the exact decimal string.
local function takeBack(e)
  local _, _, gi, _, inp, cr, cw, cw1, out, rs, ai, ao, ii, io, eci, sci, lat, ttft, cph, cpl, chh, chl, svh, svl, cv, hv, K, quotaAt =
    struct.unpack(EVENT, packed, starts[e])
  local group = groups[gi]
  if group.fast then
    accumulate(group, -1, inp, cr, cw, cw1, out, rs, ai, ao, ii, io, unitsOf(starts[e], K), eci > 0 and errorClasses[eci] or '', statusClasses[sci], lat, ttft, cph, cpl, chh, chl, svh, svl, cv, hv)
    if (lat >= 0 and lat == group.latmax) or (ttft >= 0 and ttft == group.ttftmax) then group.remax = true end
  end
  for k = 0, K - 1 do
    local qi, amount = struct.unpack(QUOTA_ENTRY, packed, quotaAt + 12 * k)
    local quota = quotas[qi]
    if amount < 0 or quota.total < 0 then quota.total = -1 else quota.total = quota.total - amount end
  end
end
local replayed, anyTakenBack = 0, false
for e = 1, E do
  if isNew[e] ~= true then
    if isNew[e] == nil then replayed = replayed + 1 end
    takeBack(e)
    anyTakenBack = true
  end
end

local anyWalk = false
for _, quota in ipairs(quotas) do
  local fields = { QC.used }
  for t, trigger in ipairs(quota.triggers) do fields[t + 1] = QC.alertFlagPrefix .. trigger.threshold end
  local read = redis.call('HMGET', quota.key, unpack(fields))
  local used = tonumber(read[1] or '0')
  local total = quota.total
  local fits = total >= 0 and used < EXACT and used + total < EXACT
  for t, trigger in ipairs(quota.triggers) do
    if read[t + 1] then trigger.asked = true -- alerted before in this period
    elseif fits and used + total >= trigger.at then fits = false end
  end
  quota.pending = 0
  if fits then
    quota.used, quota.pending, quota.inLua = used + total, total, true
  else
    quota.used, quota.inLua, quota.walk = used, used < EXACT, true
    anyWalk = true
  end
end

local function flushPending(quota)
  if quota.pending ~= 0 then redis.call('HINCRBY', quota.key, QC.used, string.format('%d', quota.pending)) end
  quota.pending = 0
end
-- A counter stops at 2^63 - 1 (Redis's int64; $9.2M in pico-USD), at or past every valid limit.
-- Letting HINCRBY fail instead would abort the script after its first writes (dedup sets,
-- other counters), and the retry would then drop this call's events as duplicates.
local INT64_MAX = '9223372036854775807'
local function addInRedis(quota, amountText)
  local used = redis.pcall('HINCRBY', quota.key, QC.used, amountText)
  if type(used) == 'table' then
    if not string.find(used.err or '', 'overflow', 1, true) then error(used.err) end
    redis.call('HSET', quota.key, QC.used, INT64_MAX)
    return tonumber(INT64_MAX)
  end
  return used
end
-- `used` below 2^53 is exact (a double holds it); at or above, Redis holds the exact value.
local function reached(quota, used, trigger)
  if used < EXACT then return trigger.at < EXACT and used >= trigger.at end
  local text = redis.call('HGET', quota.key, QC.used)
  if #text ~= #trigger.atText then return #text > #trigger.atText end
  return text >= trigger.atText
end
local function usedText(quota, used)
  if used < EXACT then return string.format('%d', used) end
  return redis.call('HGET', quota.key, QC.used)
end
-- One event's amount on a walked quota. While the counter stays below 2^53 the amounts are
-- summed here (`pending`) and written once; past it each goes to Redis (pending flushed
-- first), so the counter there is exact whenever it is compared.
-- `amount` is nil when it is past what a double holds; `amountText` is then its decimal string.
local function addUsage(quota, amount, amountText, offset, at)
  local used
  if quota.inLua and amount ~= nil and quota.used + amount < EXACT then
    used = quota.used + amount
    quota.pending = quota.pending + amount
  else
    flushPending(quota)
    quota.inLua = false
    used = addInRedis(quota, amountText or string.format('%d', amount))
  end
  quota.used = used
  for _, trigger in ipairs(quota.triggers) do
    -- Once asked, a flag is set for the period: no need to ask again in this call.
    if not trigger.asked and reached(quota, used, trigger) then
      trigger.asked = true
      if redis.call('HSETNX', quota.key, QC.alertFlagPrefix .. trigger.threshold, string.format('%d', offset)) == 1 then
        outbox[#outbox + 1] = cjson.encode({ t = 'a', m = quota.meta, th = trigger.threshold,
          u = usedText(quota, used), at = string.format('%d', at), o = string.format('%d', offset), p = partition })
      end
    end
  end
end

-- Pass 2, in offset order: the event time watermark, groups summed event by event, walked quotas.
local applied, corrections, late = 0, 0, 0
for e = 1, E do
  if isNew[e] then
    applied = applied + 1
    local group = groups[groupOf[e]]
    if not group.fast then
      local _, offset, _, _, inp, cr, cw, cw1, out, rs, ai, ao, ii, io, eci, sci, lat, ttft, cph, cpl, chh, chl, svh, svl, cv, hv, K =
        struct.unpack(EVENT, packed, starts[e])
      local units = unitsOf(starts[e], K)
      local ec = eci > 0 and errorClasses[eci] or ''
      local sc = statusClasses[sci]
      local hour = tonumber(group.hour)
      local isLate = hour + HOUR <= maxts
      if isLate then late = late + 1 end
      if hour + HOUR + lateness <= maxts then
        -- The hour closed: a correction row of its own, keyed by the event's offset.
        corrections = corrections + 1
        local f = { [RF.requests] = 1, [RF.input] = inp, [RF.cacheRead] = cr, [RF.cacheWrite] = cw, [RF.cacheWrite1h] = cw1,
          [RF.output] = out, [RF.reasoning] = rs, [RF.audioInput] = ai, [RF.audioOutput] = ao, [RF.imageInput] = ii, [RF.imageOutput] = io,
          [RF.errors] = (ec ~= '' and 1 or 0), [RF.late] = 1,
          [RF.latencyUsSum] = (lat >= 0 and lat or 0), [RF.latencyUsMax] = (lat >= 0 and lat or 0), [RF.latencyCount] = (lat >= 0 and 1 or 0),
          [RF.ttftUsSum] = (ttft >= 0 and ttft or 0), [RF.ttftUsMax] = (ttft >= 0 and ttft or 0), [RF.ttftCount] = (ttft >= 0 and 1 or 0) }
        for u = 1, #units, 2 do f[RF.unitPrefix .. units[u]] = units[u + 1] end
        if ec ~= '' then f[RF.errorClassPrefix .. ec] = 1 end
        f[RF.statusClassPrefix .. sc] = 1
        -- Money as decimal strings: cjson writes numbers with 14 significant digits.
        f[RF.costHi] = string.format('%d', cph); f[RF.costLo] = string.format('%d', cpl); f[RF.chargeHi] = string.format('%d', chh)
        f[RF.chargeLo] = string.format('%d', chl); f[RF.savingsHi] = string.format('%d', svh); f[RF.savingsLo] = string.format('%d', svl)
        if cv > 0 then f[RF.costVersionPrefix .. versions[cv]] = 1 else f[RF.unpricedCost] = 1 end
        if hv > 0 then f[RF.chargeVersionPrefix .. versions[hv]] = 1 else f[RF.unpricedCharge] = 1 end
        outbox[#outbox + 1] = cjson.encode({ t = 'c', h = group.hour, d = group.dims, p = partition, o = string.format('%d', offset), f = f })
      else
        group.touched = true
        accumulate(group, 1, inp, cr, cw, cw1, out, rs, ai, ao, ii, io, units, ec, sc, lat, ttft, cph, cpl, chh, chl, svh, svl, cv, hv)
        if lat > group.latmax then group.latmax = lat end
        if ttft > group.ttftmax then group.ttftmax = ttft end
        if isLate then group.late = group.late + 1 end
      end
    end
  end
  if anyWalk then
    -- Amounts past a double are taken in event order, whether the event counts or not.
    local K, quotaAt = struct.unpack('<H', packed, starts[e] + K_AT)
    for k = 0, K - 1 do
      local qi, amount = struct.unpack(QUOTA_ENTRY, packed, quotaAt + 12 * k)
      local amountText
      if amount < 0 then
        amount, amountText = nil, ARGV[bigAmountAt]
        bigAmountAt = bigAmountAt + 1
      end
      local quota = quotas[qi]
      if isNew[e] and quota.walk then addUsage(quota, amount, amountText, struct.unpack('<d', packed, starts[e] + 12), timeOf[e]) end
    end
  end
  if isNew[e] and timeOf[e] > maxts then maxts = timeOf[e] end
end

-- Expiry last: a counter first written in this call exists only now.
for _, quota in ipairs(quotas) do
  flushPending(quota)
  redis.call('PEXPIREAT', quota.key, quota.expireAt)
end

-- A fast group that took back the event holding a maximum finds it again among those counted.
if anyTakenBack then
  for e = 1, E do
    local group = groups[groupOf[e]]
    if group.remax then
      if group.remaxed == nil then group.remaxed, group.latmax, group.ttftmax = true, 0, 0 end
      if isNew[e] then
        local lat, ttft = struct.unpack('<d d', packed, starts[e] + LAT_AT)
        if lat > group.latmax then group.latmax = lat end
        if ttft > group.ttftmax then group.ttftmax = ttft end
      end
    end
  end
end
for _, group in ipairs(groups) do
  if group.fast and group.req > 0 then group.touched = true end
end

-- Cumulative rollups: each hash read once and written once; the new totals go to the outbox.
local openKey = prefix .. TK.openHours .. partition
for _, group in ipairs(groups) do
  if group.touched then
    local key = prefix .. TK.rollup .. partition .. ':' .. group.hour .. ':' .. group.dims
    local flat = redis.call('HGETALL', key)
    local f = {}
    for n = 1, #flat, 2 do f[flat[n]] = flat[n + 1] end
    local writes = {}
    local function put(name, value)
      f[name] = value
      writes[#writes + 1] = name
      writes[#writes + 1] = value
    end
    -- Sums stay exact in doubles below 2^53; a field at or past it is added by HINCRBY.
    local function add(name, delta)
      local old = tonumber(f[name] or '0')
      local new = old + delta
      if math.abs(old) < EXACT and math.abs(new) < EXACT then
        if delta ~= 0 or f[name] == nil then put(name, string.format('%d', new)) end
      else
        redis.call('HINCRBY', key, name, string.format('%d', delta))
        f[name] = redis.call('HGET', key, name)
      end
    end
    add(RF.requests, group.req); add(RF.input, group.inp); add(RF.cacheRead, group.cr); add(RF.cacheWrite, group.cw)
    add(RF.output, group.out); add(RF.reasoning, group.rs); add(RF.errors, group.err)
    -- The v2 buckets only once they are used (a v1 group's hash keeps its v1 fields).
    for _, bucket in ipairs({ { RF.cacheWrite1h, group.cw1 }, { RF.audioInput, group.ai }, { RF.audioOutput, group.ao }, { RF.imageInput, group.ii }, { RF.imageOutput, group.io } }) do
      if bucket[2] ~= 0 or f[bucket[1]] then add(bucket[1], bucket[2]) end
    end
    for unit, n in pairs(group.un) do if n ~= 0 then add(RF.unitPrefix .. unit, n) end end
    add(RF.latencyUsSum, group.lat); add(RF.latencyCount, group.latn); add(RF.ttftUsSum, group.ttft); add(RF.ttftCount, group.ttftn)
    add(RF.late, group.late)
    add(RF.costHi, group.cph); add(RF.costLo, group.cpl); add(RF.chargeHi, group.chh); add(RF.chargeLo, group.chl)
    add(RF.savingsHi, group.svh); add(RF.savingsLo, group.svl)
    if group.upc > 0 then add(RF.unpricedCost, group.upc) end
    if group.uph > 0 then add(RF.unpricedCharge, group.uph) end
    for v, n in pairs(group.vc) do if n > 0 and f[RF.costVersionPrefix .. versions[v]] == nil then put(RF.costVersionPrefix .. versions[v], '1') end end
    for v, n in pairs(group.vh) do if n > 0 and f[RF.chargeVersionPrefix .. versions[v]] == nil then put(RF.chargeVersionPrefix .. versions[v], '1') end end
    for class, n in pairs(group.ec) do if n ~= 0 then add(RF.errorClassPrefix .. class, n) end end
    for class, n in pairs(group.sc) do if n ~= 0 then add(RF.statusClassPrefix .. class, n) end end
    if group.latmax > tonumber(f[RF.latencyUsMax] or '0') then put(RF.latencyUsMax, string.format('%d', group.latmax)) end
    if group.ttftmax > tonumber(f[RF.ttftUsMax] or '0') then put(RF.ttftUsMax, string.format('%d', group.ttftmax)) end
    if #writes > 0 then callSliced('HSET', key, writes) end
    redis.call('ZADD', openKey, group.hour, group.hour .. ':' .. group.dims)
    outbox[#outbox + 1] = cjson.encode({ t = 'r', h = group.hour, d = group.dims, p = partition, v = string.format('%d', lastOffset), f = f })
  end
end

-- Hours that closed are final (their last value is already in the outbox or published).
local closedUpTo = maxts - lateness - HOUR
for _, member in ipairs(redis.call('ZRANGEBYSCORE', openKey, '-inf', closedUpTo)) do
  redis.call('DEL', prefix .. TK.rollup .. partition .. ':' .. member)
end
redis.call('ZREMRANGEBYSCORE', openKey, '-inf', closedUpTo)

if lastOffset > wmOff then
  redis.call('HSET', wmKey, WM.offset, string.format('%d', lastOffset), WM.maxEventTime, string.format('%d', maxts))
end
local outboxLength = #outbox > 0 and callSliced('RPUSH', outboxKey, outbox) or redis.call('LLEN', outboxKey)
return { applied, duplicates, replayed, corrections, late, outboxLength }
