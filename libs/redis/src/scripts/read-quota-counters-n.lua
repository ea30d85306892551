--[[
  Reads what each quota counter of one tenant has used: checkQuota's one round trip as one
  command (one socket write for the client), however many quotas apply.

  KEYS[1..n]  ml:{T}:q:<quota>:<period start>  hash: used (absent until the period's first event)
              (n varies per call: ioredis sends it before the keys)
  ARGV        none

  Returns an array of n values in KEYS order: the counter's `used` as a decimal string, or nil
  when the counter does not exist (nothing used yet in that period).
]]
local used = {}
for i = 1, #KEYS do
  used[i] = redis.call('HGET', KEYS[i], LAYOUT.quotaCounter.used)
end
return used
