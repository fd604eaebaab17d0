-- Failed or canceled jobs go back to the end of their queues, in the order
-- given, with a fresh attempt count; their error history stays.
WITH wanted AS (
    SELECT j.id, w.n
    FROM unnest(%(ids)s::text[]) WITH ORDINALITY AS w (id, n)
    JOIN conveyor_jobs AS j ON j.id = w.id
    WHERE j.state IN ('failed', 'canceled')
    ORDER BY w.n
    FOR UPDATE OF j
), numbered AS (
    SELECT id, n, nextval('conveyor_jobs_position') AS position FROM wanted
), moved AS (
    UPDATE conveyor_jobs AS j
    SET state = 'queued', position = numbered.position, attempts = 0,
        enqueued_at = %(now)s, started_at = NULL, ended_at = NULL, expires_at = NULL,
        worker = NULL, result = NULL, run_at = NULL
    FROM numbered
    WHERE j.id = numbered.id
    RETURNING j.id, j.queue, numbered.n
)
SELECT id, n, pg_notify('conveyor_' || md5(current_schema() || '/' || queue), '') AS woken
FROM moved
ORDER BY n
