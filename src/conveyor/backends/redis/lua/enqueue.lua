-- ARGV: ns, now, count, then per job the FIXED values below, in their order,
-- then the number of optional field/value pairs (title, description, retry,
-- options) and those pairs.
-- Returns {0} when stored, or {1, id} when that id exists (nothing stored).
-- A batch costs one EXISTS and one HSET per job; the queue indexes, the queue
-- registry and the wake-ups are one call per queue.
local FIXED = 11  -- id, queue, at_front ("1"/"0"), payload, func, created_at,
                  -- timeout, meta, result_ttl, failure_ttl, max_attempts
local now = ARGV[2]
local count = tonumber(ARGV[3])
local starts, lasts, keys, seen = {}, {}, {}, {}
local i = 4
for n = 1, count do
    local id = ARGV[i]
    local key = job_key(id)
    if seen[id] or redis.call('EXISTS', key) == 1 then return {1, id} end
    seen[id] = true
    starts[n], keys[n] = i, key
    lasts[n] = i + FIXED + tonumber(ARGV[i + FIXED]) * 2  -- the job's last argument
    i = lasts[n] + 1
end
local queues, index_keys = {}, {}
for n, at in ipairs(starts) do
    local id, q = ARGV[at], ARGV[at + 1]
    redis.call('HSET', keys[n], 'id', id, 'queue', q, 'payload', ARGV[at + 3],
        'func', ARGV[at + 4], 'created_at', ARGV[at + 5], 'timeout', ARGV[at + 6],
        'meta', ARGV[at + 7], 'result_ttl', ARGV[at + 8], 'failure_ttl', ARGV[at + 9],
        'max_attempts', ARGV[at + 10], 'state', 'queued', 'enqueued_at', now,
        'attempts', 0, 'errors', '[]',
        unpack(ARGV, at + FIXED + 1, lasts[n]))
    local index = index_keys[q]
    if not index then
        index = queued_key(q)
        index_keys[q] = index
        queues[#queues + 1] = q
    end
    add_later(index, next_score(q, ARGV[at + 2] == '1'), id)
end
apply_index_changes()
for _, q in ipairs(queues) do
    redis.call('SADD', queues_key(q), q)
    wake(q)
end
return {0}
