-- ARGV: ns, now, count, then per job: id, queue, at_front ("1"/"0"), payload, field count, field/value pairs.
-- Returns {0} when stored, or {1, id} when that id exists (nothing stored).
-- A batch costs one EXISTS and one HSET per job; the queue indexes, the queue
-- registry and the wake-ups are one call per queue.
local now = ARGV[2]
local count = tonumber(ARGV[3])
local starts, seen = {}, {}
local i = 4
for n = 1, count do
    local id = ARGV[i]
    if seen[id] or redis.call('EXISTS', job_key(id)) == 1 then return {1, id} end
    seen[id] = true
    starts[n] = i
    i = i + 5 + tonumber(ARGV[i + 4]) * 2
end
local queues, registries = {}, {}
for _, at in ipairs(starts) do
    local id, q = ARGV[at], ARGV[at + 1]
    local last_field = at + 4 + tonumber(ARGV[at + 4]) * 2
    redis.call('HSET', job_key(id), 'payload', ARGV[at + 3], 'state', 'queued', 'queue', q,
        'enqueued_at', now, 'attempts', 0, 'errors', '[]', unpack(ARGV, at + 5, last_field))
    add_later(queued_key(q), next_score(q, ARGV[at + 2] == '1'), id)
    if not registries[q] then
        registries[q] = queues_key(q)
        queues[#queues + 1] = q
    end
end
apply_index_changes()
for _, q in ipairs(queues) do
    redis.call('SADD', registries[q], q)
    wake(q)
end
return {0}
