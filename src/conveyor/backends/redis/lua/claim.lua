-- ARGV: ns, worker, lease expiry, now, limit, queue count, queues..., tokens (limit of them)...
-- Returns, for each claimed job, its RECORD_FIELDS values.
local worker = ARGV[2]
local expires = ARGV[3]
local now = tonumber(ARGV[4])
local limit = tonumber(ARGV[5])
local nqueues = tonumber(ARGV[6])
local queues = {}
for q = 1, nqueues do queues[q] = ARGV[6 + q] end
local tokens_at = 7 + nqueues

-- Promote scheduled jobs that are due, to the back of their queue.
for _, q in ipairs(queues) do
    local due = redis.call('ZRANGEBYSCORE', scheduled_key(q), '-inf', ARGV[4])
    for _, id in ipairs(due) do
        redis.call('ZREM', scheduled_key(q), id)
        redis.call('ZADD', queued_key(q), queue_end(q, false), id)
        redis.call('HSET', job_key(id), 'state', 'queued')
        redis.call('HDEL', job_key(id), 'run_at')
    end
end

local out = {}
local got = 0
for _, q in ipairs(queues) do
    if got >= limit then break end
    local ids = redis.call('ZRANGE', queued_key(q), 0, limit - got - 1)
    for _, id in ipairs(ids) do
        got = got + 1
        local key = job_key(id)
        redis.call('ZREM', queued_key(q), id)
        redis.call('HINCRBY', key, 'attempts', 1)
        redis.call('HSET', key, 'state', 'started', 'worker', worker,
            'lease_token', ARGV[tokens_at + got - 1], 'lease_expires_at', expires,
            'started_at', ARGV[4])
        -- (run_at went when the job was promoted, ended_at when it was requeued)
        redis.call('ZADD', LEASES, expires, id)
        redis.call('ZADD', started_key(q), ARGV[4], id)
        out[#out + 1] = redis.call('HMGET', key, unpack(RECORD_FIELDS))
    end
    -- Others may be waiting on this queue: pass the wake-up on while jobs remain.
    if #ids > 0 and redis.call('ZCARD', queued_key(q)) > 0 then wake(q) end
end
return out
