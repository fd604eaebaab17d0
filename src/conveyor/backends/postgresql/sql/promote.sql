-- Due scheduled jobs (retries whose time came) go to the back of their
-- queues, earliest first, and wake the workers of those queues.
WITH due AS (
    SELECT id FROM conveyor_jobs
    WHERE state = 'scheduled' AND run_at <= %(now)s
    ORDER BY run_at
    FOR UPDATE SKIP LOCKED
), numbered AS (
    SELECT id, nextval('conveyor_jobs_position') AS position FROM due
), promoted AS (
    UPDATE conveyor_jobs AS j
    SET state = 'queued', position = numbered.position, run_at = NULL
    FROM numbered
    WHERE j.id = numbered.id
    RETURNING j.queue
)
SELECT queue, pg_notify('conveyor_' || md5(current_schema() || '/' || queue), '') AS woken
FROM promoted
