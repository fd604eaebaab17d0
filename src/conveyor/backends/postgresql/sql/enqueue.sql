-- Store new jobs as queued (or scheduled, those with a run_at), in the order
-- given; an id stored already fails the whole statement (a unique violation).
-- Each stored job wakes the workers listening on its queue once the
-- transaction commits (for a scheduled one, to learn when it is due).
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
        %(now)s, j.run_at, j.options::jsonb
    FROM unnest(
        %(ids)s::text[], %(queues)s::text[], %(at_front)s::boolean[], %(funcs)s::text[],
        %(payloads)s::bytea[], %(titles)s::text[], %(descriptions)s::text[],
        %(metas)s::text[], %(timeouts)s::integer[], %(result_ttls)s::integer[],
        %(failure_ttls)s::integer[], %(max_attempts)s::integer[], %(retries)s::text[],
        %(created_ats)s::double precision[], %(run_ats)s::double precision[],
        %(options)s::text[]
    ) WITH ORDINALITY AS j (
        id, queue, at_front, func, payload, title, description, meta, timeout,
        result_ttl, failure_ttl, max_attempts, retry, created_at, run_at, options, n
    )
    ORDER BY j.n  -- positions follow the order given
    RETURNING id, queue, state
), counted AS (
    -- The jobs stored, counted (migration 0005): one delta row per queue and state.
    INSERT INTO conveyor_count_changes (queue, state, delta)
    SELECT queue, state, count(*) FROM stored GROUP BY queue, state
)
SELECT id, pg_notify('conveyor_' || md5(current_schema() || '/' || queue), '') AS woken
FROM stored
