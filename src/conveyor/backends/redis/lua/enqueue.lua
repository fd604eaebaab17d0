-- ARGV: ns, now, count, then per job the FIXED values below, in their order,
-- then the number of optional field/value pairs (title, description, retry,
-- options) and those pairs.
-- Returns {0} when stored, or {1, id} when that id is taken by a job that has
-- not ended (nothing stored). The record of an ended job with the id is
-- replaced (RQ reuses ids): it leaves its ended index and the purge schedule.
-- A batch costs one HGET and one HSET per job; the queue indexes, the queue
-- registry and the wake-ups are one call per queue.
local FIXED = 11  -- id, queue, placement, payload, func, created_at,
                  -- timeout, meta, result_ttl, failure_ttl, max_attempts
-- placement: "0" the back of the queue, "1" its front, anything else the time
-- (epoch seconds) the job is due: it is stored as scheduled until then.
local now = ARGV[2]
need_number(now, 'now')
local count = need_count(ARGV[3], 'count')
local starts, lasts, keys, seen, replaced = {}, {}, {}, {}, {}
local i = 4
for n = 1, count do
    local id = ARGV[i]
    local key = job_key(id)
    if seen[id] then return {1, id} end
    local state = redis.call('HGET', key, 'state')
    if state then
        if state ~= 'finished' and state ~= 'failed' and state ~= 'canceled' then
            return {1, id}
        end
        replaced[#replaced + 1] = id
    end
    seen[id] = true
    starts[n], keys[n] = i, key
    -- Every number checked before the first write (all or nothing).
    local place = ARGV[i + 2]
    if place ~= '0' and place ~= '1' then need_number(place, 'run_at') end
    need_number(ARGV[i + 5], 'created_at')
    need_number(ARGV[i + 6], 'timeout')
    for k = 8, 10 do need_number(ARGV[i + k], 'result_ttl, failure_ttl or max_attempts') end
    lasts[n] = i + FIXED + need_count(ARGV[i + FIXED], 'optional fields') * 2  -- its last argument
    need_args(lasts[n])
    i = lasts[n] + 1
end
if before_writes then before_writes() end
for _, id in ipairs(replaced) do
    local old = redis.call('HMGET', job_key(id), 'state', 'queue')
    redis.call('ZREM', ended_key(old[2], old[1]), id)
    redis.call('ZREM', EXPIRY, old[1] .. SEP .. old[2] .. SEP .. id)
    redis.call('DEL', job_key(id))
end
local queues, index_keys = {}, {}
for n, at in ipairs(starts) do
    local id, q, place = ARGV[at], ARGV[at + 1], ARGV[at + 2]
    local scheduled = place ~= '0' and place ~= '1'
    redis.call('HSET', keys[n], 'id', id, 'queue', q, 'payload', ARGV[at + 3],
        'func', ARGV[at + 4], 'created_at', ARGV[at + 5], 'timeout', ARGV[at + 6],
        'meta', ARGV[at + 7], 'result_ttl', ARGV[at + 8], 'failure_ttl', ARGV[at + 9],
        'max_attempts', ARGV[at + 10], 'state', scheduled and 'scheduled' or 'queued',
        'enqueued_at', now, 'attempts', 0, 'errors', '[]',
        unpack(ARGV, at + FIXED + 1, lasts[n]))
    if not index_keys[q] then
        index_keys[q] = queued_key(q)
        queues[#queues + 1] = q
    end
    if scheduled then
        redis.call('HSET', keys[n], 'run_at', place)
        add_later(scheduled_key(q), place, id)
    else
        add_later(index_keys[q], next_score(q, place == '1'), id)
    end
end
apply_index_changes()
-- A scheduled job wakes a worker too: it learns the new due time and waits until then.
for _, q in ipairs(queues) do
    redis.call('SADD', queues_key(q), q)
    wake(q)
end
return {0}
