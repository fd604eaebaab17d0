-- ARGV: ns, job id, meta (JSON), lease token ('' for none).
-- Replaces the job's meta; with a token, only while that token holds the
-- job's lease. Returns 1 if saved, 0 if not (unknown job, or lease not held).
local id, meta, token = ARGV[2], ARGV[3], ARGV[4]
local cur = redis.call('HMGET', job_key(id), 'state', 'lease_token')
if not cur[1] then return 0 end
if token ~= '' and (cur[1] ~= 'started' or cur[2] ~= token) then return 0 end
redis.call('HSET', job_key(id), 'meta', meta)
return 1
