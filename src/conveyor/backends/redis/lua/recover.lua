-- ARGV: ns, now, limit. Requeues (or fails, attempts spent) jobs whose lease expired.
-- Returns a flat list: id, queue, new state, attempts for each job recovered.
local now = need_number(ARGV[2], 'now')
local limit = need_count(ARGV[3], 'limit')
local out = {}
local ids = redis.call('ZRANGEBYSCORE', LEASES, '-inf', '(' .. ARGV[2], 'LIMIT', 0, limit)
for _, id in ipairs(ids) do
    local key = job_key(id)
    local cur = redis.call('HMGET', key, 'state', 'queue', 'worker', 'attempts', 'max_attempts',
        'failure_ttl', 'enqueued_at', 'started_at')
    redis.call('ZREM', LEASES, id)
    if cur[1] == 'started' then
        local q, attempts = cur[2], tonumber(cur[4]) or 1
        local message = 'Worker ' .. (cur[3] or '?') ..
            ' was lost while running the job (its lease expired)'
        local error_json = cjson.encode({type = 'WorkerLost', message = message, traceback = '',
            attempt = attempts, at = now})
        release_lease(id, q)
        append_error(id, error_json)
        local state
        if attempts < (tonumber(cur[5]) or 1) then
            state = 'queued'
            redis.call('HSET', key, 'state', 'queued')
            redis.call('HDEL', key, 'worker')
            redis.call('ZADD', queued_key(q), queue_end(q, true), id)
            wake(q)
        else
            state = 'failed'
            redis.call('HSET', key, 'state', 'failed', 'ended_at', ARGV[2])
            tally(q, 'failed', now, cur[7], cur[8])
            retire(id, q, 'failed', now, stored_ttl(cur[6]))
        end
        out[#out + 1] = id
        out[#out + 1] = q
        out[#out + 1] = state
        out[#out + 1] = attempts
    end
end
apply_index_changes()
write_tallies()
return out
