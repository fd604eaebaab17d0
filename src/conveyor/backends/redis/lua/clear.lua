-- ARGV: ns, queue, batch. Deletes up to batch queued/scheduled jobs of one queue; returns how many.
local q = ARGV[2]
local batch = need_count(ARGV[3], 'batch')
local removed = 0
for _, key in ipairs({queued_key(q), scheduled_key(q)}) do
    local ids = redis.call('ZRANGE', key, 0, batch - removed - 1)
    for _, id in ipairs(ids) do
        redis.call('DEL', job_key(id))
    end
    if #ids > 0 then redis.call('ZREM', key, unpack(ids)) end
    removed = removed + #ids
    if removed >= batch then break end
end
return removed
