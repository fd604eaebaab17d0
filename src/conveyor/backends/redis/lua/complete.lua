-- ARGV: ns, now, count, then per outcome: id, token, state, has_result, result, error_json, run_at,
-- started_at ('' to keep the claim time).
-- Returns one 1/0 per outcome: 0 when the token no longer holds the lease.
-- A finished job costs an HMGET, an HDEL, an HSET and a PEXPIRE of its own; the
-- index updates (leases, started, ended, expiry) are one call per key per batch.
local now = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
local out = {}
local unleased = {}  -- ids leaving LEASES
local unstarted = {}  -- started key -> ids leaving it
local ended = {}  -- ended key -> score, member pairs
local expiring = {}  -- EXPIRY score, member pairs
local function push(lists, key, ...)
    local list = lists[key]
    if not list then
        list = {}
        lists[key] = list
    end
    for _, value in ipairs({...}) do list[#list + 1] = value end
end
-- retire() for a batch: the index entries are added at the end.
local function retire_later(id, q, state, ttl)
    if ttl == 0 then
        redis.call('DEL', job_key(id))
        return
    end
    push(ended, ended_key(q, state), now, id)
    if ttl > 0 then
        redis.call('PEXPIRE', job_key(id), math.ceil(ttl * 1000))
        expiring[#expiring + 1] = now + ttl
        expiring[#expiring + 1] = state .. SEP .. q .. SEP .. id
    end
end
for n = 0, count - 1 do
    local base = 4 + n * 8
    local id, token, state = ARGV[base], ARGV[base + 1], ARGV[base + 2]
    local key = job_key(id)
    local cur = redis.call('HMGET', key, 'state', 'lease_token', 'queue', 'result_ttl', 'failure_ttl',
        'attempts')
    if cur[1] ~= 'started' or cur[2] ~= token then
        out[#out + 1] = 0
    else
        local q = cur[3]
        redis.call('HDEL', key, 'lease_token', 'lease_expires_at')
        unleased[#unleased + 1] = id
        push(unstarted, started_key(q), id)
        if ARGV[base + 7] ~= '' and state ~= 'queued' and state ~= 'finished' then
            redis.call('HSET', key, 'started_at', ARGV[base + 7])
        end
        if state == 'finished' then  -- the hot path: one HSET
            local fields = {'state', 'finished', 'ended_at', ARGV[2]}
            if ARGV[base + 3] == '1' then
                fields[#fields + 1] = 'result'
                fields[#fields + 1] = ARGV[base + 4]
            end
            if ARGV[base + 7] ~= '' then
                fields[#fields + 1] = 'started_at'
                fields[#fields + 1] = ARGV[base + 7]
            end
            redis.call('HSET', key, unpack(fields))
            retire_later(id, q, 'finished', tonumber(cur[4]))
        elseif state == 'failed' then
            redis.call('HSET', key, 'state', 'failed', 'ended_at', ARGV[2])
            append_error(id, ARGV[base + 5])
            retire_later(id, q, 'failed', tonumber(cur[5]))
        elseif state == 'scheduled' then
            local run_at = ARGV[base + 6]
            redis.call('HSET', key, 'state', 'scheduled', 'run_at', run_at)
            append_error(id, ARGV[base + 5])
            redis.call('ZADD', scheduled_key(q), run_at, id)
            wake(q)
        else -- queued: put back at the front, the attempt not counted
            local attempts = tonumber(cur[6]) - 1
            if attempts < 0 then attempts = 0 end
            redis.call('HSET', key, 'state', 'queued', 'attempts', attempts)
            redis.call('HDEL', key, 'started_at', 'worker')
            redis.call('ZADD', queued_key(q), queue_end(q, true), id)
            wake(q)
        end
        out[#out + 1] = 1
    end
end
call_many('ZREM', LEASES, unleased)
for key, ids in pairs(unstarted) do call_many('ZREM', key, ids) end
for key, pairs_ in pairs(ended) do call_many('ZADD', key, pairs_) end
call_many('ZADD', EXPIRY, expiring)
return out
