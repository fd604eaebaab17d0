-- ARGV: ns, now, ids... Puts failed or canceled jobs back at the end of their queue.
-- Returns the ids moved.
need_number(ARGV[2], 'now')
local moved = {}
for n = 3, #ARGV do
    local id = ARGV[n]
    local key = job_key(id)
    local cur = redis.call('HMGET', key, 'state', 'queue')
    local state, q = cur[1], cur[2]
    if state == 'failed' or state == 'canceled' then
        redis.call('ZREM', ended_key(q, state), id)
        redis.call('ZREM', EXPIRY, state .. SEP .. q .. SEP .. id)
        redis.call('PERSIST', key)
        redis.call('HSET', key, 'state', 'queued', 'attempts', 0, 'enqueued_at', ARGV[2])
        redis.call('HDEL', key, 'started_at', 'ended_at', 'worker', 'result', 'run_at')
        redis.call('ZADD', queued_key(q), queue_end(q, false), id)
        redis.call('SADD', queues_key(q), q)
        wake(q)
        moved[#moved + 1] = id
    end
end
return moved
