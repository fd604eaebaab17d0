-- Helpers shared by every script (prepended to each when it is loaded).
-- ARGV[1] is always the key namespace, e.g. "conveyor".
local NS = ARGV[1]
local function job_key(id) return NS .. ':job:' .. id end
-- A queue's keys are made once a run and looked up after that: a batch names a
-- few queues many times, and joining strings costs more than a table lookup.
-- once(kind, q, make) is make(kind, q), worked out at most once a run.
local made_keys = {}
local function once(kind, q, make)
    local made = made_keys[kind]
    if made == nil then
        made = {}
        made_keys[kind] = made
    end
    local value = made[q]
    if value == nil then
        value = make(kind, q)
        made[q] = value
    end
    return value
end
local function joined(kind, q) return NS .. kind .. q end
local function queue_key(kind, q) return once(kind, q, joined) end
local function queued_key(q) return queue_key(':queued:', q) end
local function scheduled_key(q) return queue_key(':scheduled:', q) end
local function started_key(q) return queue_key(':started:', q) end
local function wake_key(q) return queue_key(':wake:', q) end
local function ended_name(state, q) return NS .. ':ended:' .. state .. ':' .. q end
local function ended_key(q, state) return once(state, q, ended_name) end
local LEASES = NS .. ':leases'
local EXPIRY = NS .. ':expiry'
local SEP = '\31'

-- All or nothing: Redis never rolls a script back, so a script checks every
-- argument it will use before its first write, and fails (changing nothing)
-- on a bad one, rather than stop partway through a batch.
local function need_number(value, what)
    local n = tonumber(value)
    if n == nil or n ~= n or n == math.huge or n == -math.huge then
        error('conveyor: ' .. what .. ' must be a number, not ' .. tostring(value))
    end
    return n
end
local function need_count(value, what)
    local n = need_number(value, what)
    if n < 0 or n ~= math.floor(n) then
        error('conveyor: ' .. what .. ' must be a whole number, not ' .. tostring(value))
    end
    return n
end
-- Check that ARGV holds at least ``last`` arguments: a short batch fails up front.
local function need_args(last)
    if ARGV[last] == nil then
        error('conveyor: ' .. last .. ' arguments expected, ' .. #ARGV .. ' given')
    end
end
-- A stored retention Redis can express as a PEXPIRE (a record from an older
-- version may hold any value): beyond about 300,000 years, or unreadable, the
-- record is kept until deleted (-1) rather than fail the script partway.
local MAX_TTL = 1e13
-- Set by a script that runs before enqueue.lua in one (periodic_take.lua): its
-- own writes, which enqueue.lua makes once its checks have passed.
local before_writes = nil
local function stored_ttl(value)
    local n = tonumber(value)
    if n == nil or n ~= n or n > MAX_TTL or n < -1 then return -1 end
    return n
end
-- A job record as the scripts return it: these hash fields, in this order
-- (RECORD_FIELDS in __init__.py must match).
local RECORD_FIELDS = {'id', 'queue', 'func', 'payload', 'state', 'created_at', 'enqueued_at', 'timeout', 'title', 'description', 'meta', 'result_ttl', 'failure_ttl', 'max_attempts', 'retry', 'attempts', 'run_at', 'started_at', 'ended_at', 'worker', 'lease_token', 'lease_expires_at', 'result', 'errors', 'options'}

-- Run a variadic command (ZADD, ZREM, ...) on one key over a long list of
-- arguments, at most CHUNK of them a call: unpack() has a limit. CHUNK is even,
-- so score-member pairs stay whole.
local CHUNK = 1000
local function call_many(command, key, args)
    for i = 1, #args, CHUNK do
        redis.call(command, key, unpack(args, i, math.min(i + CHUNK - 1, #args)))
    end
end

-- The site prefix of a full queue name: "conveyor:<site>:" of "conveyor:<site>:<name>".
local function site_prefix(_, q) return string.match(q, '^([^:]*:[^:]*:)') or '' end
local function site_of(q) return once('site', q, site_prefix) end
local function queues_key(q) return queue_key(':queues:', site_of(q)) end

-- The score just past the back (or before the front) of a queue.
local function queue_end(q, front)
    local got
    if front then
        got = redis.call('ZRANGE', queued_key(q), 0, 0, 'WITHSCORES')
        if #got == 0 then return -1 end
        return tonumber(got[2]) - 1
    end
    got = redis.call('ZRANGE', queued_key(q), -1, -1, 'WITHSCORES')
    if #got == 0 then return 1 end
    return tonumber(got[2]) + 1
end

-- Wake one worker blocked on this queue: one pending token at most, so a
-- token already there (no worker has waited since) is left as it is.
local function wake(q)
    local key = wake_key(q)
    if redis.call('LLEN', key) == 0 then redis.call('RPUSH', key, '1') end
end

local function append_error(id, error_json)
    if error_json == nil or error_json == '' then return end
    local errors = redis.call('HGET', job_key(id), 'errors')
    if not errors or errors == '[]' or errors == '' then
        errors = '[' .. error_json .. ']'
    else
        errors = string.sub(errors, 1, -2) .. ',' .. error_json .. ']'
    end
    redis.call('HSET', job_key(id), 'errors', errors)
end

-- Sorted-set index changes gathered while a script runs, applied once per key
-- by apply_index_changes() before the script returns: removals first, then
-- additions. A batch of jobs then costs one ZREM or ZADD per key, not per job.
local removals, additions = {}, {}
local function list_of(lists, key)
    local list = lists[key]
    if not list then
        list = {}
        lists[key] = list
    end
    return list
end
local function remove_later(key, member)
    local list = list_of(removals, key)
    list[#list + 1] = member
end
local function add_later(key, score, member)
    local list = list_of(additions, key)
    list[#list + 1] = score
    list[#list + 1] = member
end
local function apply_index_changes()
    for key, members in pairs(removals) do call_many('ZREM', key, members) end
    for key, scored in pairs(additions) do call_many('ZADD', key, scored) end
    removals, additions = {}, {}
end

-- Scores for a run of additions to queues, reading each queue's end at most
-- once a script (queue_end) and counting on from it: the caller adds the job
-- with add_later(queued_key(q), score, id), so nothing else may read or change
-- those queues in the same script.
local ends = {}
local function next_score(q, front)
    local e = list_of(ends, q)
    local side = front and 'front' or 'back'
    if e[side] == nil then
        e[side] = queue_end(q, front)
    elseif front then
        e[side] = e[side] - 1
    else
        e[side] = e[side] + 1
    end
    return e[side]
end

-- Index an ended job and give its record the retention of its ttl (``key``: its
-- record's key, when the caller has it).
-- A batch's jobs end at one ``now`` and mostly share a ttl: the numbers passed
-- to Redis for them are written out as text once (Redis would format each).
local as_text = {}
local function text_of(n)
    local t = as_text[n]
    if t == nil then
        t = string.format('%.17g', n)
        as_text[n] = t
    end
    return t
end
local function retire(id, q, state, now, ttl, key)
    key = key or job_key(id)
    if ttl == 0 then
        redis.call('DEL', key)
        return
    end
    add_later(ended_key(q, state), text_of(now), id)
    if ttl > 0 then
        redis.call('PEXPIRE', key, text_of(math.ceil(ttl * 1000)))
        add_later(EXPIRY, text_of(now + ttl), state .. SEP .. q .. SEP .. id)
    end
end

local function release_lease(id, q, key)
    redis.call('HDEL', key or job_key(id), 'lease_token', 'lease_expires_at')
    remove_later(LEASES, id)
    remove_later(started_key(q), id)
end

-- Per-minute statistics (added to layout 3 without a bump): the hash
-- stats:<site prefix><hour> (hour = epoch seconds // 3600) has, per queue of the
-- site and minute of the hour, fields <queue>SEP<minute>SEP<counter> (minute =
-- epoch seconds // 60): the jobs that ended finished or failed in that minute,
-- and the sums and counts of their waits (enqueue to start) and runs (start to
-- end). One hash an hour keeps a day's reading to 24 HGETALLs. A script tallies
-- as it ends jobs and writes each hash once before it returns (write_tallies); a
-- hash expires STATS_RETENTION seconds (STATS_RETENTION in
-- conveyor.backends.base) after its last write.
local STATS_RETENTION = 48 * 3600
local tallies = {}
-- The counters last used for each queue, with the ``now`` they were found for:
-- a batch's jobs end at one ``now``, so the hash and field are worked out once.
local counters_of = {}
local function tally(q, state, now, enqueued_at, started_at)
    local last = counters_of[q]
    local t
    if last ~= nil and last[1] == now then
        t = last[2]
    else
        local key = NS .. ':stats:' .. site_of(q) .. math.floor(now / 3600)
        local per_minute = list_of(tallies, key)
        local field = q .. SEP .. math.floor(now / 60) .. SEP
        t = per_minute[field]
        if not t then
            t = {finished = 0, failed = 0, wait_sum = 0, wait_count = 0, run_sum = 0, run_count = 0}
            per_minute[field] = t
        end
        counters_of[q] = {now, t}
    end
    t[state] = t[state] + 1
    local began = tonumber(started_at)
    if began then
        t.wait_sum = t.wait_sum + math.max(began - (tonumber(enqueued_at) or began), 0)
        t.wait_count = t.wait_count + 1
        t.run_sum = t.run_sum + math.max(now - began, 0)
        t.run_count = t.run_count + 1
    end
end
local function write_tallies()
    for key, per_minute in pairs(tallies) do
        for prefix, t in pairs(per_minute) do
            for _, name in ipairs({'finished', 'failed', 'wait_count', 'run_count'}) do
                if t[name] > 0 then redis.call('HINCRBY', key, prefix .. name, t[name]) end
            end
            -- %.17g keeps every bit of a double (tostring keeps 14 digits).
            if t.wait_count > 0 then
                redis.call('HINCRBYFLOAT', key, prefix .. 'wait_sum',
                    string.format('%.17g', t.wait_sum))
                redis.call('HINCRBYFLOAT', key, prefix .. 'run_sum',
                    string.format('%.17g', t.run_sum))
            end
        end
        redis.call('EXPIRE', key, STATS_RETENTION)
    end
    tallies, counters_of = {}, {}
end
