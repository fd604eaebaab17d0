-- ARGV: ns, now, count, then per job: id, queue, at_front ("1"/"0"), payload, field count, field/value pairs.
-- Returns {0} when stored, or {1, id} when that id exists (nothing stored).
local now = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
local jobs = {}
local i = 4
for _ = 1, count do
    local job = {id = ARGV[i], queue = ARGV[i + 1], front = ARGV[i + 2] == '1', payload = ARGV[i + 3]}
    local nfields = tonumber(ARGV[i + 4])
    job.fields = {}
    for f = 1, nfields * 2 do job.fields[f] = ARGV[i + 4 + f] end
    i = i + 5 + nfields * 2
    if redis.call('EXISTS', job_key(job.id)) == 1 then return {1, job.id} end
    jobs[#jobs + 1] = job
end
local seen = {}
for _, job in ipairs(jobs) do
    if seen[job.id] then return {1, job.id} end
    seen[job.id] = true
end
for _, job in ipairs(jobs) do
    local key = job_key(job.id)
    redis.call('HSET', key, 'payload', job.payload, 'state', 'queued', 'queue', job.queue,
        'enqueued_at', now, 'attempts', 0, 'errors', '[]', unpack(job.fields))
    redis.call('ZADD', queued_key(job.queue), queue_end(job.queue, job.front), job.id)
    redis.call('SADD', queues_key(job.queue), job.queue)
end
local woken = {}
for _, job in ipairs(jobs) do
    if not woken[job.queue] then wake(job.queue); woken[job.queue] = true end
end
return {0}
