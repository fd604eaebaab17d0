-- The PostgreSQL backend's queries, each found by the name in its header
-- (see conveyor.backends.sqlfile). Parameters are psycopg's %(name)s. The
-- tables themselves are built by backends/migrations/postgresql/.

-- name: cancel_started
-- A started job becomes canceled and loses its lease: its worker notices at
-- the next heartbeat and stops it.
UPDATE conveyor_jobs
SET state = 'canceled',
    ended_at = %(now)s,
    expires_at = CASE WHEN failure_ttl >= 0 THEN %(now)s + failure_ttl ELSE NULL END,
    lease_token = NULL,
    lease_expires_at = NULL
WHERE id = %(id)s

-- name: channels
-- The notification channels of these queues: one per queue and schema, named
-- by a hash because a channel name is limited to 63 bytes.
SELECT 'conveyor_' || md5(current_schema() || '/' || q) AS channel
FROM unnest(%(queues)s::text[]) AS q

-- name: claim
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

-- name: clear
-- Delete the queued and scheduled jobs of some queues. A job a worker is
-- claiming right now is waited for, and then left alone (it is started).
DELETE FROM conveyor_jobs
WHERE queue = ANY(%(queues)s::text[]) AND state IN ('queued', 'scheduled')
RETURNING queue

-- name: command_worker
-- Leave a command for a worker (migration 0004): 'stop' is never downgraded to
-- 'quiet'. Commands never read (their worker was killed) are dropped on the way.
WITH expired AS (
    DELETE FROM conveyor_worker_commands WHERE expires_at <= %(now)s AND key <> %(key)s
)
INSERT INTO conveyor_worker_commands AS c (key, command, expires_at)
VALUES (%(key)s, %(command)s, %(expires_at)s)
ON CONFLICT (key) DO UPDATE SET
    expires_at = excluded.expires_at,
    command = CASE WHEN c.command = 'stop' THEN c.command ELSE excluded.command END
RETURNING key

-- name: compact_counts
-- Fold the count changes into the kept counts (migration 0005), in one
-- transaction, so a reader sees the same sums before and after. One folder at
-- a time per schema (a transaction-scoped advisory lock; another caller finds
-- it taken and leaves the work to the holder). Changes committed meanwhile are
-- not seen by the DELETE and stay for the next fold. The number of change rows
-- folded comes back.
WITH allowed AS (
    SELECT pg_try_advisory_xact_lock(hashtext('conveyor_counts/' || current_schema())) AS ok
), moved AS (
    DELETE FROM conveyor_count_changes
    WHERE (SELECT ok FROM allowed)
    RETURNING queue, state, delta
), folded AS (
    INSERT INTO conveyor_counts AS c (queue, state, n)
    SELECT queue, state, sum(delta) FROM moved
    GROUP BY queue, state
    ORDER BY queue, state
    ON CONFLICT (queue, state) DO UPDATE SET n = c.n + excluded.n
)
SELECT count(*) AS folded FROM moved

-- name: complete
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

-- name: count
-- Per queue and state, how many job records there are: the kept counts plus
-- the changes not folded in yet (migration 0005), read in one snapshot, so
-- exact; never a count of conveyor_jobs' rows. ``changes`` is how many change
-- rows were read (past a bound, the caller folds them in: compact_counts.sql).
SELECT queue, state, sum(n)::bigint AS total, sum(rows)::bigint AS changes
FROM (
    SELECT queue, state, n, 0 AS rows FROM conveyor_counts
    WHERE queue = ANY(%(queues)s::text[])
    UNION ALL
    SELECT queue, state, delta, 1 FROM conveyor_count_changes
    WHERE queue = ANY(%(queues)s::text[])
) AS kept
GROUP BY queue, state

-- name: delete
-- Delete records outright (an ended job whose TTL keeps no record).
DELETE FROM conveyor_jobs WHERE id = ANY(%(ids)s::text[])

-- name: delete_ended
-- The records of ended jobs with these ids, which an enqueue reuses (as RQ does).
DELETE FROM conveyor_jobs
WHERE id = ANY(%(ids)s::text[]) AND state IN ('finished', 'failed', 'canceled')

-- name: delete_one
-- One job's record, whatever its state (RQ's Job.delete()); the record as it was.
DELETE FROM conveyor_jobs WHERE id = %(id)s RETURNING *

-- name: ended_channel
-- The channel complete.sql notifies when a batch ended jobs (for wait_ended()).
SELECT 'conveyor_ended_' || md5(current_schema())

-- name: enqueue
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

-- name: enqueue_one
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

-- name: existing
-- Which of these job ids are taken by a job that has not ended (to name the one
-- an enqueue collided with: an ended job's id is reused).
SELECT id FROM conveyor_jobs
WHERE id = ANY(%(ids)s::text[]) AND state NOT IN ('finished', 'failed', 'canceled')

-- name: extend
-- Push back the expiry of leases still held; the ids of those that were.
UPDATE conveyor_jobs AS j
SET lease_expires_at = %(lease_expires_at)s
FROM unnest(%(ids)s::text[], %(tokens)s::text[]) AS l (id, token)
WHERE j.id = l.id AND j.lease_token = l.token AND j.state = 'started'
RETURNING j.id

-- name: find_token
SELECT * FROM conveyor_tokens WHERE hash = %(hash)s

-- name: forget_worker_command
-- Drop a stopped worker's command (migration 0004).
DELETE FROM conveyor_worker_commands WHERE key = %(key)s RETURNING key

-- name: get
SELECT * FROM conveyor_jobs WHERE id = %(id)s

-- name: installed
-- Where this connection's tables go, and whether conveyor's are there.
SELECT current_schema() AS schema,
       to_regclass('conveyor_schema_version') IS NOT NULL AS installed

-- name: list_any
-- One page of a queue's jobs in the given states: queued ones in claim
-- order, then scheduled ones by due time, started ones by start, and ended
-- ones most recent first.
SELECT * FROM conveyor_jobs
WHERE queue = %(queue)s AND state = ANY(%(states)s::text[])
ORDER BY
    CASE state WHEN 'queued' THEN 0 WHEN 'scheduled' THEN 1 WHEN 'started' THEN 2 ELSE 3 END,
    CASE state
        WHEN 'queued' THEN position
        WHEN 'scheduled' THEN run_at
        WHEN 'started' THEN started_at
        ELSE -ended_at
    END,
    id
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_counts
-- How many jobs of each queue are in the given states, from the kept counts
-- (migration 0005; see count.sql), not from the jobs' rows.
SELECT queue, sum(n)::bigint AS total
FROM (
    SELECT queue, n FROM conveyor_counts
    WHERE queue = ANY(%(queues)s::text[]) AND state = ANY(%(states)s::text[])
    UNION ALL
    SELECT queue, delta FROM conveyor_count_changes
    WHERE queue = ANY(%(queues)s::text[]) AND state = ANY(%(states)s::text[])
) AS kept
GROUP BY queue

-- name: list_ended
-- One page of a queue's jobs in one ended state, most recent first: read in
-- that order from conveyor_jobs_queue_state_ended (migration 0005), ties by id.
SELECT * FROM conveyor_jobs
WHERE queue = %(queue)s AND state = %(state)s
ORDER BY ended_at DESC, id
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_queued
-- One page of a queue's queued jobs, in the order they will be claimed.
SELECT * FROM conveyor_jobs
WHERE queue = %(queue)s AND state = 'queued'
ORDER BY position
LIMIT %(limit)s OFFSET %(offset)s

-- name: lock_job
-- One job's record, locked until the transaction ends.
SELECT * FROM conveyor_jobs WHERE id = %(id)s FOR UPDATE

-- name: next_due
-- When the earliest scheduled job is due (NULL: none is): a waiting claim wakes then.
SELECT min(run_at) AS due FROM conveyor_jobs WHERE state = 'scheduled'

-- name: notify
-- Wake the workers listening on these queues (delivered at commit).
SELECT pg_notify('conveyor_' || md5(current_schema() || '/' || q), '') AS woken
FROM unnest(%(queues)s::text[]) AS q

-- name: pause_queues
-- Pause queues (migration 0004); returns those that were not paused before.
INSERT INTO conveyor_paused_queues (queue, paused_at)
SELECT queue, %(now)s FROM unnest(%(queues)s::text[]) AS queue
ON CONFLICT (queue) DO NOTHING
RETURNING queue

-- name: paused_queues
-- The paused queues whose name starts with a prefix (migration 0004).
SELECT queue FROM conveyor_paused_queues
WHERE left(queue, length(%(prefix)s)) = %(prefix)s
ORDER BY queue

-- name: periodic_declare
-- Create or update periodic-job entries; an existing one keeps its state.
INSERT INTO conveyor_periodic (name, schedule, timezone, func, queue, last_tick, declared_at)
SELECT d.name, d.schedule, d.timezone, d.func, d.queue, d.baseline, %(now)s
FROM unnest(
    %(names)s::text[], %(schedules)s::text[], %(timezones)s::text[], %(funcs)s::text[],
    %(queues)s::text[], %(baselines)s::double precision[]
) AS d (name, schedule, timezone, func, queue, baseline)
ON CONFLICT (name) DO UPDATE SET
    schedule = excluded.schedule, timezone = excluded.timezone, func = excluded.func,
    queue = excluded.queue, declared_at = excluded.declared_at

-- name: periodic_enable
-- Enable or disable one periodic job; its entry as it is now.
UPDATE conveyor_periodic SET enabled = %(enabled)s WHERE name = %(name)s RETURNING *

-- name: periodic_entries
-- The periodic-job entries whose name starts with a prefix.
SELECT * FROM conveyor_periodic
WHERE left(name, length(%(prefix)s)) = %(prefix)s
ORDER BY name

-- name: periodic_forget
-- Delete one periodic-job entry.
DELETE FROM conveyor_periodic WHERE name = %(name)s RETURNING name

-- name: periodic_take
-- Take a tick: the compare-and-set that lets exactly one worker enqueue it.
-- The row lock it takes is held until the transaction (with the job's insert) ends;
-- a concurrent taker waits, then sees last_tick moved and takes nothing.
UPDATE conveyor_periodic
SET last_tick = %(tick)s,
    last_job_id = CASE WHEN %(job_id)s::text IS NULL THEN last_job_id ELSE %(job_id)s END,
    last_enqueued_at = CASE WHEN %(job_id)s::text IS NULL THEN last_enqueued_at ELSE %(now)s END
WHERE name = %(name)s AND enabled AND (last_tick IS NULL OR last_tick < %(tick)s)
RETURNING name

-- name: promote
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

-- name: purge_jobs
-- Delete up to `batch` ended records whose retention has passed.
DELETE FROM conveyor_jobs
WHERE id IN (
    SELECT id FROM conveyor_jobs
    WHERE expires_at <= %(now)s
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
)

-- name: purge_stats
-- Drop the per-minute statistics (migration 0005) older than the retention.
DELETE FROM conveyor_stats WHERE minute < %(before)s

-- name: purge_workers
-- Forget workers whose registration expired.
DELETE FROM conveyor_workers WHERE expires_at <= %(now)s

-- name: queue_names
-- The queues of one prefix (a site) that hold any job record, from the kept
-- counts (migration 0005; see count.sql), not from the jobs' rows.
SELECT queue
FROM (
    SELECT queue, n FROM conveyor_counts WHERE starts_with(queue, %(prefix)s)
    UNION ALL
    SELECT queue, delta FROM conveyor_count_changes WHERE starts_with(queue, %(prefix)s)
) AS kept
GROUP BY queue
HAVING sum(n) > 0
ORDER BY queue

-- name: record_migration
-- A migration was applied (0001 records itself; recording it again changes nothing).
INSERT INTO conveyor_schema_version (version) VALUES (%(version)s)
ON CONFLICT (version) DO NOTHING

-- name: recover
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

-- name: register_worker
-- Record a worker, or refresh its registration at a heartbeat.
INSERT INTO conveyor_workers (key, info, started_at, expires_at)
VALUES (%(key)s, %(info)s::jsonb, %(started_at)s, %(expires_at)s)
ON CONFLICT (key) DO UPDATE SET info = excluded.info, expires_at = excluded.expires_at

-- name: repeatable_read
-- One snapshot for the whole transaction (it must come first in it).
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ

-- name: requeue
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

-- name: resume_queues
-- Resume queues (migration 0004); returns those that were paused.
DELETE FROM conveyor_paused_queues WHERE queue = ANY(%(queues)s::text[])
RETURNING queue

-- name: revoke_token
DELETE FROM conveyor_tokens WHERE site_id = %(site_id)s AND name = %(name)s RETURNING name

-- name: run_now
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

-- name: save_meta
-- Replace a job's meta; with a token, only while that token holds the job's lease.
UPDATE conveyor_jobs
SET meta = %(meta)s::jsonb
WHERE id = %(id)s
    AND (%(token)s::text IS NULL OR (state = 'started' AND lease_token = %(token)s::text))
RETURNING id

-- name: save_token
-- Store a web API token (its hash); nothing comes back if the site has one
-- of that name, or the hash exists already.
INSERT INTO conveyor_tokens (site_id, name, hash, read_only, created_at)
VALUES (%(site_id)s, %(name)s, %(hash)s, %(read_only)s, %(created_at)s)
ON CONFLICT DO NOTHING
RETURNING name

-- name: savepoint
-- Enqueueing inside an application's transaction: undone alone on a duplicate id.
SAVEPOINT conveyor_enqueue

-- name: savepoint_release
RELEASE SAVEPOINT conveyor_enqueue

-- name: savepoint_rollback
ROLLBACK TO SAVEPOINT conveyor_enqueue

-- name: schema_lock
-- Serialise schema set-up per schema name, until the transaction ends.
SELECT pg_advisory_xact_lock(hashtext('conveyor schema ' || %(schema)s))

-- name: schema_version
SELECT max(version) AS version FROM conveyor_schema_version

-- name: search_path_restore
SELECT set_config('search_path', %(search_path)s, true) AS current

-- name: search_path_set
-- Point this transaction at conveyor's schema; the previous search path, to restore.
SELECT current_setting('search_path') AS previous,
       set_config('search_path', %(search_path)s, true) AS current

-- name: stats
-- The per-minute statistics (migration 0005) of one prefix's queues from minute
-- `first` to minute `last`, the shards of each minute added up.
SELECT queue, minute, sum(finished)::bigint AS finished, sum(failed)::bigint AS failed,
       sum(wait_sum) AS wait_sum, sum(wait_count)::bigint AS wait_count,
       sum(run_sum) AS run_sum, sum(run_count)::bigint AS run_count
FROM conveyor_stats
WHERE minute BETWEEN %(first)s AND %(last)s AND starts_with(queue, %(prefix)s)
GROUP BY queue, minute
ORDER BY queue, minute

-- name: tokens
SELECT * FROM conveyor_tokens WHERE site_id = %(site_id)s ORDER BY name

-- name: unlisten
UNLISTEN *

-- name: unregister_worker
DELETE FROM conveyor_workers WHERE key = %(key)s

-- name: worker_control
-- What a worker reads at its heartbeat (migration 0004): which of its queues
-- are paused, and the command left for it.
SELECT queue, NULL::text AS command FROM conveyor_paused_queues
WHERE queue = ANY(%(queues)s::text[])
UNION ALL
SELECT NULL, command FROM conveyor_worker_commands WHERE key = %(key)s

-- name: workers
-- Live workers, oldest first (the caller picks those of one site).
SELECT info FROM conveyor_workers
WHERE expires_at > %(now)s
ORDER BY started_at, key
