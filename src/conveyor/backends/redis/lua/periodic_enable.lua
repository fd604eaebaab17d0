-- ARGV: ns, name, "1" or "0". Sets an existing entry's enabled flag; 1 if it exists, else 0.
if ARGV[3] ~= '1' and ARGV[3] ~= '0' then
    error('conveyor: enabled must be "1" or "0", not ' .. tostring(ARGV[3]))
end
local key = NS .. ':periodic:' .. ARGV[2]
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('HSET', key, 'enabled', ARGV[3])
return 1
