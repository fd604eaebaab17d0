-- enqueue.sql for a single job (the usual case), with plain parameters:
-- cheaper to send than fourteen one-element arrays.
WITH stored AS (
    INSERT INTO conveyor_jobs (
        id, queue, state, position, func, payload, title, description, meta, timeout,
        result_ttl, failure_ttl, max_attempts, retry, created_at, enqueued_at, run_at, options
    )
    VALUES (
        %(id)s, %(queue)s,
        CASE WHEN %(run_at)s::double precision IS NULL THEN 'queued' ELSE 'scheduled' END,
        CASE WHEN %(at_front)s THEN -nextval('conveyor_jobs_position')
             ELSE nextval('conveyor_jobs_position') END,
        %(func)s, %(payload)s, %(title)s, %(description)s, %(meta)s::jsonb, %(timeout)s,
        %(result_ttl)s, %(failure_ttl)s, %(max_attempts)s, %(retry)s::jsonb, %(created_at)s,
        %(now)s, %(run_at)s, %(options)s::jsonb
    )
    RETURNING id, queue, state
), counted AS (
    -- The jobs stored, counted (migration 0005): one delta row per queue and state.
    INSERT INTO conveyor_count_changes (queue, state, delta)
    SELECT queue, state, count(*) FROM stored GROUP BY queue, state
)
SELECT id, pg_notify('conveyor_' || md5(current_schema() || '/' || queue), '') AS woken
FROM stored
