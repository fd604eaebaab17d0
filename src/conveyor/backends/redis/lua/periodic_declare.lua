-- ARGV: ns, now, count, then per entry: name, schedule, timezone, func, queue, baseline.
-- Creates or updates periodic-job entries (hash periodic:<name>, indexed in the
-- set periodic-names); an existing entry keeps enabled, last_tick and its last job.
local now = ARGV[2]
need_number(now, 'now')
local count = need_count(ARGV[3], 'count')
need_args(3 + count * 6)
for n = 0, count - 1 do need_number(ARGV[9 + n * 6], 'baseline') end
local i = 4
for _ = 1, count do
    local name = ARGV[i]
    local key = NS .. ':periodic:' .. name
    if redis.call('EXISTS', key) == 0 then
        redis.call('HSET', key, 'enabled', '1', 'last_tick', ARGV[i + 5])
    end
    redis.call('HSET', key, 'name', name, 'schedule', ARGV[i + 1], 'timezone', ARGV[i + 2],
        'func', ARGV[i + 3], 'queue', ARGV[i + 4], 'declared_at', now)
    redis.call('SADD', NS .. ':periodic-names', name)
    i = i + 6
end
return 0
