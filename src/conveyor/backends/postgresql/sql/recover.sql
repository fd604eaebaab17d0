-- Jobs whose lease expired: back to the front of their queue, or failed when
-- their attempts are spent. The lost attempt stays counted and a WorkerLost
-- error is appended. Rows locked by a worker completing them right now are
-- skipped: that worker is alive after all. A job failed here counts in the
-- minute's statistics (migration 0005) as one that failed.
WITH lost AS (
    SELECT id FROM conveyor_jobs
    WHERE state = 'started' AND lease_expires_at < %(now)s
    ORDER BY lease_expires_at
    FOR UPDATE SKIP LOCKED
), moved AS (
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
    RETURNING j.id, j.queue, j.state, j.attempts, j.failure_ttl, j.enqueued_at, j.started_at
), tallied AS (
    INSERT INTO conveyor_stats AS s (
        queue, minute, shard, failed, wait_sum, wait_count, run_sum, run_count
    )
    SELECT queue, floor(%(now)s / 60)::bigint, pg_backend_pid() %% 8, count(*),
           coalesce(sum(greatest(started_at - enqueued_at, 0)), 0), count(started_at),
           coalesce(sum(greatest(%(now)s - started_at, 0)), 0), count(started_at)
    FROM moved
    WHERE state = 'failed'
    GROUP BY queue
    ORDER BY queue
    ON CONFLICT (queue, minute, shard) DO UPDATE
    SET failed = s.failed + excluded.failed,
        wait_sum = s.wait_sum + excluded.wait_sum,
        wait_count = s.wait_count + excluded.wait_count,
        run_sum = s.run_sum + excluded.run_sum,
        run_count = s.run_count + excluded.run_count
)
SELECT id, queue, state, attempts, failure_ttl FROM moved
