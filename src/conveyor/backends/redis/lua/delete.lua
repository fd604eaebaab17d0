-- ARGV: ns, id. Deletes one job's record whatever its state, and its entries in
-- every index (a started job loses its lease with it). Returns {} for an
-- unknown job, otherwise the record as it was (its RECORD_FIELDS values).
local id = ARGV[2]
local key = job_key(id)
local before = redis.call('HMGET', key, unpack(RECORD_FIELDS))
if not before[1] then return {} end
local state, q = before[5], before[2]
redis.call('ZREM', queued_key(q), id)
redis.call('ZREM', scheduled_key(q), id)
redis.call('ZREM', started_key(q), id)
redis.call('ZREM', LEASES, id)
if state == 'finished' or state == 'failed' or state == 'canceled' then
    redis.call('ZREM', ended_key(q, state), id)
    redis.call('ZREM', EXPIRY, state .. SEP .. q .. SEP .. id)
end
redis.call('DEL', key)
return before
