-- Take up to `limit` queued jobs: the leftmost queue first, front first
-- within one. Rows another claimer holds are skipped, never waited for, so
-- claimers do not queue up behind each other and no job is taken twice.
--
-- The queues are visited in the order given (a nested loop over the array),
-- and each one's jobs are read and locked lazily, in position order, until
-- `limit` are locked in all: no row beyond those taken is ever locked.
WITH picked AS MATERIALIZED (
    SELECT q.rank, j.id
    FROM unnest(%(queues)s::text[]) WITH ORDINALITY AS q (name, rank)
    CROSS JOIN LATERAL (
        SELECT id FROM conveyor_jobs
        WHERE queue = q.name AND state = 'queued'
        ORDER BY position
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) AS j
    LIMIT %(limit)s
), claimed AS (
    UPDATE conveyor_jobs AS j
    SET state = 'started',
        attempts = j.attempts + 1,
        worker = %(worker)s,
        lease_token = replace(gen_random_uuid()::text, '-', ''),
        lease_expires_at = %(lease_expires_at)s,
        started_at = %(now)s,
        run_at = NULL
    FROM picked
    WHERE j.id = picked.id
    RETURNING picked.rank, j.*
), counted AS (
    -- The move counted (migration 0005): per queue, its queued -k and started +k.
    INSERT INTO conveyor_count_changes (queue, state, delta)
    SELECT c.queue, moved.state, moved.delta
    FROM (SELECT queue, count(*) AS n FROM claimed GROUP BY queue) AS c
    CROSS JOIN LATERAL (VALUES ('queued', -c.n), ('started', c.n)) AS moved (state, delta)
)
SELECT * FROM claimed
