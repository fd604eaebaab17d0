-- ARGV: ns, now, new expiry, count, then id, token pairs. Returns 1/0 per lease (0: lost).
local now = need_number(ARGV[2], 'now')
local expires = ARGV[3]
need_number(expires, 'lease expiry')
local count = need_count(ARGV[4], 'count')
need_args(4 + count * 2)
local out = {}
for n = 0, count - 1 do
    local id, token = ARGV[5 + n * 2], ARGV[6 + n * 2]
    local cur = redis.call('HMGET', job_key(id), 'state', 'lease_token')
    if cur[1] == 'started' and cur[2] == token then
        redis.call('HSET', job_key(id), 'lease_expires_at', expires)
        redis.call('ZADD', LEASES, expires, id)
        out[#out + 1] = 1
    else
        out[#out + 1] = 0
    end
end
return out
