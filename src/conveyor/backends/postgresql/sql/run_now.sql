-- Scheduled jobs made due at once go to the back of their queues, in the order
-- given, as promote.sql moves those whose time came, and wake those queues'
-- workers. Other states, unknown and repeated ids are left alone.
WITH wanted AS (
    SELECT j.id, min(w.n) AS n
    FROM unnest(%(ids)s::text[]) WITH ORDINALITY AS w (id, n)
    JOIN conveyor_jobs AS j ON j.id = w.id
    WHERE j.state = 'scheduled'
    GROUP BY j.id
), locked AS (
    SELECT j.id, wanted.n
    FROM conveyor_jobs AS j
    JOIN wanted ON wanted.id = j.id
    WHERE j.state = 'scheduled'
    ORDER BY wanted.n
    FOR UPDATE OF j
), numbered AS (
    SELECT id, n, nextval('conveyor_jobs_position') AS position FROM locked
), moved AS (
    UPDATE conveyor_jobs AS j
    SET state = 'queued', position = numbered.position, run_at = NULL
    FROM numbered
    WHERE j.id = numbered.id AND j.state = 'scheduled'
    RETURNING j.id, j.queue, numbered.n
)
SELECT id, n, pg_notify('conveyor_' || md5(current_schema() || '/' || queue), '') AS woken
FROM moved
ORDER BY n
