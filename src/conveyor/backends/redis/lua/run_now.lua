-- ARGV: ns, now, ids... Makes scheduled jobs due at once: each leaves the scheduled
-- index for the back of its queue, as a claim's promotion moves a job whose time came,
-- and wakes a worker of that queue. Other states, unknown and repeated ids are left
-- alone. Returns the ids moved, in the order given.
need_number(ARGV[2], 'now')  -- every argument checked before the first write
local moved, seen = {}, {}
for n = 3, #ARGV do
    local id = ARGV[n]
    if not seen[id] then
        seen[id] = true
        local key = job_key(id)
        local cur = redis.call('HMGET', key, 'state', 'queue')
        local state, q = cur[1], cur[2]
        if state == 'scheduled' then
            redis.call('ZREM', scheduled_key(q), id)
            redis.call('ZADD', queued_key(q), queue_end(q, false), id)
            redis.call('HSET', key, 'state', 'queued')
            redis.call('HDEL', key, 'run_at')
            wake(q)
            moved[#moved + 1] = id
        end
    end
end
return moved
