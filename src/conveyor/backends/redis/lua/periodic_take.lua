-- Taking a tick of a periodic job. Loaded as common.lua, this, then enqueue.lua:
-- when the tick can be taken, this moves last_tick and falls through into
-- enqueue.lua, which stores the tick's job, so both happen in one script.
-- ARGV: enqueue.lua's (ns, now, count: 1 with the job's values, or 0 for a
-- skipped tick), then three more: the periodic job's name, the tick, the job id ('' if none).
-- Returns {2} when the tick is not taken (unknown, disabled, or taken already),
-- {1, id} when the job's id is held by a job that has not ended (nothing changed),
-- else enqueue.lua's {0}.
local p_name, p_tick, p_job = ARGV[#ARGV - 2], ARGV[#ARGV - 1], ARGV[#ARGV]
need_number(p_tick, 'tick')
local p_key = NS .. ':periodic:' .. p_name
local p_state = redis.call('HMGET', p_key, 'enabled', 'last_tick')
if p_state[1] ~= '1' then return {2} end
if p_state[2] and p_state[2] ~= '' and tonumber(p_state[2]) >= tonumber(p_tick) then
    return {2}
end
if p_job == '' then
    -- A skipped tick stores no job (count 0): nothing of enqueue.lua's is left to check.
    need_number(ARGV[2], 'now')
    if ARGV[3] ~= '0' then error('conveyor: a skipped tick stores no job') end
    redis.call('HSET', p_key, 'last_tick', p_tick)
else
    -- As enqueue.lua decides: an id held by a job that has not ended is taken.
    local p_held = redis.call('HGET', job_key(p_job), 'state')
    if p_held and p_held ~= 'finished' and p_held ~= 'failed' and p_held ~= 'canceled' then
        return {1, p_job}
    end
    -- Written once enqueue.lua has checked the job's arguments: all or nothing.
    before_writes = function()
        redis.call('HSET', p_key, 'last_tick', p_tick, 'last_job_id', p_job,
            'last_enqueued_at', ARGV[2])
    end
end
