-- ARGV: ns, now, id. Returns {} for an unknown job, {'ended', state} for an ended one,
-- otherwise the record as it was (its RECORD_FIELDS values), after canceling it.
local now = need_number(ARGV[2], 'now')
local id = ARGV[3]
local key = job_key(id)
if redis.call('EXISTS', key) == 0 then return {} end
local before = redis.call('HMGET', key, unpack(RECORD_FIELDS))
local cur = redis.call('HMGET', key, 'state', 'queue', 'failure_ttl')
local state, q = cur[1], cur[2]
if state == 'finished' or state == 'failed' or state == 'canceled' then
    return {'ended', state}
end
if state == 'started' then
    release_lease(id, q)
    redis.call('HSET', key, 'state', 'canceled', 'ended_at', ARGV[2])
    retire(id, q, 'canceled', now, stored_ttl(cur[3]))
else
    redis.call('ZREM', queued_key(q), id)
    redis.call('ZREM', scheduled_key(q), id)
    redis.call('DEL', key)
end
apply_index_changes()
return before
