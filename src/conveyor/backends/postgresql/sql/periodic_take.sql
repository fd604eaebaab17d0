-- Take a tick: the compare-and-set that lets exactly one worker enqueue it.
-- The row lock it takes is held until the transaction (with the job's insert) ends;
-- a concurrent taker waits, then sees last_tick moved and takes nothing.
UPDATE conveyor_periodic
SET last_tick = %(tick)s,
    last_job_id = CASE WHEN %(job_id)s::text IS NULL THEN last_job_id ELSE %(job_id)s END,
    last_enqueued_at = CASE WHEN %(job_id)s::text IS NULL THEN last_enqueued_at ELSE %(now)s END
WHERE name = %(name)s AND enabled AND (last_tick IS NULL OR last_tick < %(tick)s)
RETURNING name
