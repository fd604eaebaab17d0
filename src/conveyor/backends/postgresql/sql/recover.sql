-- Jobs whose lease expired: back to the front of their queue, or failed when
-- their attempts are spent. The lost attempt stays counted and a WorkerLost
-- error is appended. Rows locked by a worker completing them right now are
-- skipped: that worker is alive after all.
WITH lost AS (
    SELECT id FROM conveyor_jobs
    WHERE state = 'started' AND lease_expires_at < %(now)s
    ORDER BY lease_expires_at
    FOR UPDATE SKIP LOCKED
)
UPDATE conveyor_jobs AS j
SET state = CASE WHEN j.attempts < j.max_attempts THEN 'queued' ELSE 'failed' END,
    position = CASE WHEN j.attempts < j.max_attempts THEN -nextval('conveyor_jobs_position')
                    ELSE j.position END,
    ended_at = CASE WHEN j.attempts < j.max_attempts THEN NULL ELSE %(now)s END,
    expires_at = CASE WHEN j.attempts >= j.max_attempts AND j.failure_ttl >= 0
                      THEN %(now)s + j.failure_ttl ELSE NULL END,
    worker = NULL,
    lease_token = NULL,
    lease_expires_at = NULL,
    errors = j.errors || jsonb_build_array(jsonb_build_object(
        'type', 'WorkerLost',
        'message', 'Worker ' || coalesce(j.worker, 'unknown')
                   || ' was lost while running the job (its lease expired)',
        'traceback', '',
        'attempt', j.attempts,
        'at', %(now)s
    ))
FROM lost
WHERE j.id = lost.id
RETURNING j.id, j.queue, j.state, j.attempts, j.failure_ttl
