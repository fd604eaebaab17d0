-- Store new jobs as queued (or scheduled, those with a run_at), in the order
-- given; an id stored already fails the whole statement (a unique violation).
-- The columns come as arrays in binary (psycopg dumps a list of a thousand
-- values several times faster than as text). Each queue that got a job
-- wakes the workers listening on it once the transaction commits (for a
-- scheduled job, to learn when it is due): one notification per queue, not per
-- job, as PostgreSQL would fold equal ones into one anyway, at a cost per call.
WITH stored AS (
    INSERT INTO conveyor_jobs (
        id, queue, state, position, func, payload, title, description, meta, timeout,
        result_ttl, failure_ttl, max_attempts, retry, created_at, enqueued_at, run_at, options
    )
    SELECT
        j.id, j.queue, CASE WHEN j.run_at IS NULL THEN 'queued' ELSE 'scheduled' END,
        CASE WHEN j.at_front THEN -nextval('conveyor_jobs_position')
             ELSE nextval('conveyor_jobs_position') END,
        j.func, j.payload, j.title, j.description, j.meta::jsonb, j.timeout,
        j.result_ttl, j.failure_ttl, j.max_attempts, j.retry::jsonb, j.created_at,
        %(now)b, j.run_at, j.options::jsonb
    FROM unnest(
        %(ids)b::text[], %(queues)b::text[], %(at_front)b::boolean[], %(funcs)b::text[],
        %(payloads)b::bytea[], %(titles)b::text[], %(descriptions)b::text[],
        %(metas)b::text[], %(timeouts)b::integer[], %(result_ttls)b::integer[],
        %(failure_ttls)b::integer[], %(max_attempts)b::integer[], %(retries)b::text[],
        %(created_ats)b::double precision[], %(run_ats)b::double precision[],
        %(options)b::text[]
    ) WITH ORDINALITY AS j (
        id, queue, at_front, func, payload, title, description, meta, timeout,
        result_ttl, failure_ttl, max_attempts, retry, created_at, run_at, options, n
    )
    ORDER BY j.n  -- positions follow the order given
    RETURNING queue
)
SELECT pg_notify('conveyor_' || md5(current_schema() || '/' || q.queue), '') AS woken
FROM (SELECT DISTINCT queue FROM stored) AS q
