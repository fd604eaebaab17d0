-- ARGV: ns, now, count, then per outcome: id, token, state, has_result, result, error_json, run_at,
-- started_at ('' to keep the claim time), uncounted ('1': a retry that gives its attempt back).
-- Returns one 1/0 per outcome: 0 when the token no longer holds the lease.
-- While any process waits for jobs to end (wait_ended), a batch that ended
-- one publishes on <ns>:ended.
-- A finished job costs an HMGET, an HDEL, an HSET and a PEXPIRE of its own; the
-- index updates (leases, started, ended, expiry) are one call per key per batch,
-- and so are the minute's statistics (tally, write_tallies).
local now = need_number(ARGV[2], 'now')
local count = need_count(ARGV[3], 'count')
need_args(3 + count * 9)
local out = {}
local ended = false
-- First every check (and every read), then the writes: all or nothing.
local OUTCOMES = {finished = true, failed = true, scheduled = true, queued = true}
local current = {}
for n = 0, count - 1 do
    local base = 4 + n * 9
    local state = ARGV[base + 2]
    if not OUTCOMES[state] then error('conveyor: a job cannot be completed as ' .. state) end
    if state == 'scheduled' then need_number(ARGV[base + 6], 'run_at') end
    if ARGV[base + 7] ~= '' then need_number(ARGV[base + 7], 'started_at') end
    local cur = redis.call('HMGET', job_key(ARGV[base]), 'state', 'lease_token', 'queue',
        'result_ttl', 'failure_ttl', 'attempts', 'enqueued_at', 'started_at')
    cur[4], cur[5], cur[6] = stored_ttl(cur[4]), stored_ttl(cur[5]), tonumber(cur[6]) or 1
    current[n] = cur
end
for n = 0, count - 1 do
    local base = 4 + n * 9
    local id, token, state = ARGV[base], ARGV[base + 1], ARGV[base + 2]
    local key = job_key(id)
    local cur = current[n]
    if cur[1] ~= 'started' or cur[2] ~= token then
        out[#out + 1] = 0
    else
        local q = cur[3]
        release_lease(id, q, key)
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
            tally(q, 'finished', now, cur[7], ARGV[base + 7] ~= '' and ARGV[base + 7] or cur[8])
            retire(id, q, 'finished', now, cur[4], key)
            ended = true
        elseif state == 'failed' then
            redis.call('HSET', key, 'state', 'failed', 'ended_at', ARGV[2])
            append_error(id, ARGV[base + 5])
            tally(q, 'failed', now, cur[7], ARGV[base + 7] ~= '' and ARGV[base + 7] or cur[8])
            retire(id, q, 'failed', now, cur[5], key)
            ended = true
        elseif state == 'scheduled' then
            local run_at = ARGV[base + 6]
            redis.call('HSET', key, 'state', 'scheduled', 'run_at', run_at)
            if ARGV[base + 8] == '1' then
                local attempts = cur[6] - 1
                if attempts < 0 then attempts = 0 end
                redis.call('HSET', key, 'attempts', attempts)
            end
            append_error(id, ARGV[base + 5])
            redis.call('ZADD', scheduled_key(q), run_at, id)
            wake(q)
        else -- queued: put back at the front, the attempt not counted
            local attempts = cur[6] - 1
            if attempts < 0 then attempts = 0 end
            redis.call('HSET', key, 'state', 'queued', 'attempts', attempts)
            redis.call('HDEL', key, 'started_at', 'worker')
            redis.call('ZADD', queued_key(q), queue_end(q, true), id)
            wake(q)
        end
        out[#out + 1] = 1
    end
end
apply_index_changes()
write_tallies()
-- Processes in wait_ended() are told that jobs ended: one check a batch, and a
-- message only while any waits.
if ended and redis.call('ZCARD', NS .. ':waiters') > 0 then
    redis.call('PUBLISH', NS .. ':ended', '')
end
return out
