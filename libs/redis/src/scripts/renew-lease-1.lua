--[[
  Extends a lease its holder still holds (compare and expire, atomically).

  KEYS[1]  the lease key (its value: the holder's token)
  ARGV[1]  the holder's token
  ARGV[2]  the new time to live, ms

  Returns 1 when renewed, 0 when the key is gone or held by another token (the lease lapsed
  and maybe another holder took it over: the caller must stop its work).
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
