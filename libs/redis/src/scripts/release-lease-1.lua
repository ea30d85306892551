--[[
  Gives a lease up, only if the caller still holds it (a holder whose lease lapsed must not
  delete its successor's).

  KEYS[1]  the lease key (its value: the holder's token)
  ARGV[1]  the holder's token

  Returns 1 when released, 0 when the key was gone or held by another token.
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
