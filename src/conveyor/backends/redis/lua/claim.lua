-- ARGV: ns, worker, lease expiry, now, limit, queue count, queues..., token base,
-- mode: '' | 'mark' (if nothing is claimed, note the server's clock: a blocking wait follows)
-- | 'after' (run right after that wait, in the same pipeline: the client's now and expiry
-- are moved on by the time the server saw pass since the mark).
-- The n-th job claimed gets the lease token <token base>-<n>: the base is fresh
-- random text for each call, so no two claims ever hand out the same token.
-- Returns, for each claimed job, its RECORD_FIELDS values. When it claims nothing
-- in mode 'mark' or 'after', it returns instead {due} (the earliest run_at of a
-- scheduled job of these queues, a number) if there is one, so the wait that
-- follows ends when that job is due.
local worker = ARGV[2]
need_number(ARGV[3], 'lease expiry')
need_number(ARGV[4], 'now')
local limit = need_count(ARGV[5], 'limit')
local nqueues = need_count(ARGV[6], 'queue count')
need_args(7 + nqueues)  -- the token base: checked before the first write
local queues = {}
for q = 1, nqueues do queues[q] = ARGV[6 + q] end
local token_base = ARGV[7 + nqueues]
local mode = ARGV[8 + nqueues] or ''
local mark_key = NS .. ':waiting:' .. worker
local function server_micros()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local shift = 0
if mode == 'after' then
    local marked = tonumber(redis.call('GET', mark_key))
    if marked then shift = (server_micros() - marked) / 1000000 end
end
local now = tonumber(ARGV[4]) + shift
local expires = shift == 0 and ARGV[3] or string.format('%.6f', tonumber(ARGV[3]) + shift)
local now_text = shift == 0 and ARGV[4] or string.format('%.6f', now)

-- Promote scheduled jobs that are due, to the back of their queue.
for _, q in ipairs(queues) do
    local due = redis.call('ZRANGEBYSCORE', scheduled_key(q), '-inf', now_text)
    for _, id in ipairs(due) do
        redis.call('ZREM', scheduled_key(q), id)
        redis.call('ZADD', queued_key(q), queue_end(q, false), id)
        redis.call('HSET', job_key(id), 'state', 'queued')
        redis.call('HDEL', job_key(id), 'run_at')
    end
end

-- Each queue's claims cost one HMGET and one HSET per job; the index updates
-- (ZREM from the queue, ZADD to the started index and the leases) are one call
-- per queue for the whole batch.
local out = {}
local got = 0
for _, q in ipairs(queues) do
    if got >= limit then break end
    local ids = redis.call('ZRANGE', queued_key(q), 0, limit - got - 1)
    if #ids > 0 then
        call_many('ZREM', queued_key(q), ids)
        for _, id in ipairs(ids) do
            got = got + 1
            local key = job_key(id)
            local token = token_base .. '-' .. got
            local values = redis.call('HMGET', key, unpack(RECORD_FIELDS))
            local attempts = tostring((tonumber(values[16]) or 0) + 1)
            redis.call('HSET', key, 'state', 'started', 'worker', worker, 'attempts', attempts,
                'lease_token', token, 'lease_expires_at', expires, 'started_at', now_text)
            -- (run_at went when the job was promoted, ended_at when it was requeued)
            values[5], values[16], values[18] = 'started', attempts, now_text
            values[20], values[21], values[22] = worker, token, expires
            out[#out + 1] = values
            add_later(started_key(q), now_text, id)
            add_later(LEASES, expires, id)
        end
        -- Others may be waiting on this queue: pass the wake-up on while jobs remain.
        if redis.call('ZCARD', queued_key(q)) > 0 then wake(q) end
    end
end
apply_index_changes()
if mode == 'mark' and got == 0 then
    redis.call('SET', mark_key, server_micros(), 'PX', 60000)
end
if got == 0 and mode ~= '' then
    local due
    for _, q in ipairs(queues) do
        local first = redis.call('ZRANGE', scheduled_key(q), 0, 0, 'WITHSCORES')
        if #first > 0 and (due == nil or tonumber(first[2]) < due) then
            due = tonumber(first[2])
        end
    end
    if due then return {string.format('%.6f', due)} end
end
return out
