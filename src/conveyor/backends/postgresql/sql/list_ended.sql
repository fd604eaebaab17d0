-- One page of a queue's jobs in one ended state, most recent first: read in
-- that order from conveyor_jobs_queue_state_ended (migration 0005), ties by id.
SELECT * FROM conveyor_jobs
WHERE queue = %(queue)s AND state = %(state)s
ORDER BY ended_at DESC, id
LIMIT %(limit)s OFFSET %(offset)s
