-- Store new jobs as queued (or scheduled, those with a run_at), in the order
-- given; an id stored already fails the whole statement (a unique violation).
--
-- One statement, so one round trip and all or nothing. Every column but the id
-- comes two ways (queries._columns): an array of one value per job, or, when
-- all the jobs share the value, an empty array and the value alone (the second
-- parameter, a scalar). unnest() pads an empty array with NULLs, so coalesce()
-- takes the scalar there; beside a full array the scalar is NULL, and the
-- array's own value (NULL included) stands. Sending a shared value once spares
-- the client dumping the same thousand values, which costs more than the insert.
-- Each queue that got a job wakes the workers listening on it once the
-- transaction commits (for a scheduled job, to learn when it is due): one
-- notification per queue, not per job.
WITH given AS (
    SELECT
        j.n, j.id,
        coalesce(j.queue, %(queue)b::text) AS queue,
        coalesce(j.at_front, %(at_front_all)b::boolean) AS at_front,
        coalesce(j.func, %(func)b::text) AS func,
        coalesce(j.payload, %(payload)b::bytea) AS payload,
        coalesce(j.title, %(title)b::text) AS title,
        coalesce(j.description, %(description)b::text) AS description,
        coalesce(j.meta, %(meta)b::text) AS meta,
        coalesce(j.timeout, %(timeout)b::integer) AS timeout,
        coalesce(j.result_ttl, %(result_ttl)b::integer) AS result_ttl,
        coalesce(j.failure_ttl, %(failure_ttl)b::integer) AS failure_ttl,
        coalesce(j.max_attempts, %(max_attempts_all)b::integer) AS max_attempts,
        coalesce(j.retry, %(retry)b::text) AS retry,
        coalesce(j.created_at, %(created_at)b::double precision) AS created_at,
        coalesce(j.run_at, %(run_at)b::double precision) AS run_at,
        coalesce(j.options, %(options_all)b::text) AS options
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
), stored AS (
    INSERT INTO conveyor_jobs (
        id, queue, state, position, func, payload, title, description, meta, timeout,
        result_ttl, failure_ttl, max_attempts, retry, created_at, enqueued_at, run_at, options
    )
    SELECT
        g.id, g.queue, CASE WHEN g.run_at IS NULL THEN 'queued' ELSE 'scheduled' END,
        CASE WHEN g.at_front THEN -nextval('conveyor_jobs_position')
             ELSE nextval('conveyor_jobs_position') END,
        g.func, g.payload, g.title, g.description, g.meta::jsonb, g.timeout,
        g.result_ttl, g.failure_ttl, g.max_attempts, g.retry::jsonb, g.created_at,
        %(now)b, g.run_at, g.options::jsonb
    FROM given AS g
    ORDER BY g.n  -- positions follow the order given
    RETURNING queue, state
), counted AS (
    -- The jobs stored, counted (migration 0005): one delta row per queue and state.
    INSERT INTO conveyor_count_changes (queue, state, delta)
    SELECT queue, state, count(*) FROM stored GROUP BY queue, state
)
SELECT pg_notify('conveyor_' || md5(current_schema() || '/' || q.queue), '') AS woken
FROM (SELECT DISTINCT queue FROM stored) AS q
