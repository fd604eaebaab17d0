-- Record the outcomes of claimed jobs, each only if its token still holds
-- the lease; the ordinals (from 1) of the outcomes recorded come back.
--
-- The worker stays on an ended or retried record (who ran it); the lease
-- goes; a start time sent replaces the claim time (a job claimed ahead
-- starts later than it was claimed). A released job (queued) goes back to the front of its queue without
-- its attempt counted, and wakes the workers of its queue; so does a retry
-- marked uncounted (its code could not be imported: it never ran). An error is
-- appended to the history; an outcome without one appends nothing. An ended
-- job whose TTL keeps no record (0) is deleted instead.
WITH outcome AS (
    SELECT * FROM unnest(
        %(ids)s::text[], %(tokens)s::text[], %(states)s::text[], %(results)s::bytea[],
        %(errors)s::text[], %(run_ats)s::double precision[],
        %(started_ats)s::double precision[], %(uncounted)s::boolean[]
    ) WITH ORDINALITY AS o (id, token, state, result, error, run_at, started_at, uncounted, n)
), held AS MATERIALIZED (
    -- Locked, so a concurrent recover() or cancel() is waited for and its
    -- outcome seen: a lease it revoked no longer matches.
    SELECT o.*, (o.state = 'finished' AND j.result_ttl = 0)
                OR (o.state = 'failed' AND j.failure_ttl = 0) AS unkept,
           j.queue, j.enqueued_at, coalesce(o.started_at, j.started_at) AS began
    FROM outcome AS o
    JOIN conveyor_jobs AS j ON j.id = o.id
    WHERE j.lease_token = o.token AND j.state = 'started'
    FOR UPDATE OF j
), dropped AS (
    DELETE FROM conveyor_jobs AS j
    USING held AS h
    WHERE j.id = h.id AND h.unkept
    RETURNING h.n
), recorded AS (
    UPDATE conveyor_jobs AS j
    SET state = h.state,
        lease_token = NULL,
        lease_expires_at = NULL,
        result = CASE WHEN h.state = 'finished' THEN h.result ELSE j.result END,
        ended_at = CASE WHEN h.state IN ('finished', 'failed') THEN %(now)s ELSE j.ended_at END,
        expires_at = CASE
            WHEN h.state = 'finished' AND j.result_ttl > 0 THEN %(now)s + j.result_ttl
            WHEN h.state = 'failed' AND j.failure_ttl > 0 THEN %(now)s + j.failure_ttl
            ELSE NULL END,
        run_at = CASE WHEN h.state = 'scheduled' THEN coalesce(h.run_at, %(now)s) ELSE NULL END,
        position = CASE WHEN h.state = 'queued' THEN -nextval('conveyor_jobs_position')
                        ELSE j.position END,
        attempts = CASE WHEN h.state = 'queued' OR h.uncounted THEN greatest(j.attempts - 1, 0)
                        ELSE j.attempts END,
        started_at = CASE WHEN h.state = 'queued' THEN NULL
                          ELSE coalesce(h.started_at, j.started_at) END,
        worker = CASE WHEN h.state = 'queued' THEN NULL ELSE j.worker END,
        errors = CASE WHEN h.error IS NULL THEN j.errors
                      ELSE j.errors || jsonb_build_array(h.error::jsonb) END
    FROM held AS h
    WHERE j.id = h.id AND NOT h.unkept
    RETURNING h.n, j.state, j.queue
), counted AS (
    -- Jobs finished, counted (migration 0005; the trigger counts the other
    -- outcomes, and the statement trigger the records dropped).
    INSERT INTO conveyor_count_changes (queue, state, delta)
    SELECT r.queue, moved.state, moved.delta
    FROM (SELECT queue, count(*) AS n FROM recorded WHERE state = 'finished' GROUP BY queue) AS r
    CROSS JOIN LATERAL (VALUES ('started', -r.n), ('finished', r.n)) AS moved (state, delta)
), tallied AS (
    -- The minute's statistics (migration 0005) of the jobs that ended, kept or not.
    INSERT INTO conveyor_stats AS s (
        queue, minute, shard, finished, failed, wait_sum, wait_count, run_sum, run_count
    )
    SELECT queue, floor(%(now)s / 60)::bigint, pg_backend_pid() %% 8,
           count(*) FILTER (WHERE state = 'finished'), count(*) FILTER (WHERE state = 'failed'),
           coalesce(sum(greatest(began - enqueued_at, 0)), 0), count(began),
           coalesce(sum(greatest(%(now)s - began, 0)), 0), count(began)
    FROM held
    WHERE state IN ('finished', 'failed')
    GROUP BY queue
    ORDER BY queue  -- rows locked in one order: two batches never wait on each other in a ring
    ON CONFLICT (queue, minute, shard) DO UPDATE
    SET finished = s.finished + excluded.finished,
        failed = s.failed + excluded.failed,
        wait_sum = s.wait_sum + excluded.wait_sum,
        wait_count = s.wait_count + excluded.wait_count,
        run_sum = s.run_sum + excluded.run_sum,
        run_count = s.run_count + excluded.run_count
)
SELECT n, NULL AS woken FROM dropped
UNION ALL
-- One notification a batch that ended any job, for wait_ended() (its row has no n).
SELECT NULL, pg_notify('conveyor_ended_' || md5(current_schema()), '')::text
WHERE EXISTS (SELECT FROM recorded WHERE state IN ('finished', 'failed'))
   OR EXISTS (SELECT FROM dropped)
UNION ALL
SELECT n, CASE WHEN state = 'queued'
               THEN pg_notify('conveyor_' || md5(current_schema() || '/' || queue), '')::text
          END AS woken
FROM recorded
