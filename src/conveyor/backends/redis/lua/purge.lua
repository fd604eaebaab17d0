-- ARGV: ns, now, limit. Drops ended records (and their index entries) whose retention passed.
local now = need_number(ARGV[2], 'now')
local limit = need_count(ARGV[3], 'limit')
local members = redis.call('ZRANGEBYSCORE', EXPIRY, '-inf', ARGV[2], 'LIMIT', 0, limit)
local purged = 0
for _, member in ipairs(members) do
    local state, q, id = string.match(member, '^([^\31]*)\31(.*)\31([^\31]*)$')
    redis.call('ZREM', EXPIRY, member)
    if id then
        redis.call('ZREM', ended_key(q, state), id)
        if redis.call('HGET', job_key(id), 'state') == state then
            redis.call('DEL', job_key(id))
        end
        purged = purged + 1
    end
end
return purged
