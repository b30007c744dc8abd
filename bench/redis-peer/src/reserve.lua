-- Copied from shared/bench/redis-reserve.lua (the project's shared benchmark baselines, outside
-- this repository), unchanged below this comment.
-- Flash-sale reservation: atomically check stock >= qty, then decrement.
-- KEYS[1] = stock key, ARGV[1] = qty. Returns the new stock, or -1 when there is not enough.
local stock = tonumber(redis.call('GET', KEYS[1]) or '0')
local qty = tonumber(ARGV[1])
if stock >= qty then
  return redis.call('DECRBY', KEYS[1], qty)
end
return -1
