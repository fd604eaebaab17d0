-- The SQLite backend's statements, each found by the name in its header (see
-- conveyor.backends.sqlfile). Parameters are ?, ?N or :name. A list of values
-- is one parameter, a JSON array read by json_each. The tables themselves are
-- built by backends/migrations/sqlite/.

-- name: wal
PRAGMA journal_mode=WAL

-- name: foreign_keys_off
PRAGMA foreign_keys=OFF

-- name: synchronous
-- A placeholder, {level}, that a PRAGMA cannot bind: filled in by
-- sqlite_queries.with_words() with a level the URL check allowed.
PRAGMA synchronous={level}

-- name: data_version
-- Changes when another connection commits (not on this one's own commits).
PRAGMA data_version

-- name: begin
BEGIN

-- name: begin_immediate
BEGIN IMMEDIATE

-- name: commit
COMMIT

-- name: rollback
ROLLBACK

-- name: savepoint
SAVEPOINT conveyor_enqueue

-- name: savepoint_rollback
ROLLBACK TO conveyor_enqueue

-- name: version_table_exists
SELECT 1 FROM sqlite_master WHERE type='table' AND name='conveyor_schema_version'

-- name: version_table
-- The migrations' own bookkeeping: one row per migration applied.
CREATE TABLE IF NOT EXISTS conveyor_schema_version
    (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)

-- name: applied
SELECT MAX(version) FROM conveyor_schema_version

-- name: record_migration
INSERT INTO conveyor_schema_version (version, applied_at) VALUES (?, ?)

-- name: queue_back
-- The position of the last queued job of a queue (0: none).
SELECT MAX(position) FROM conveyor_jobs WHERE queue=? AND state='queued'

-- name: queue_front
-- The position of the first queued job of a queue (0: none).
SELECT MIN(position) FROM conveyor_jobs WHERE queue=? AND state='queued'

-- name: enqueue
-- One job of a batch, its position worked out by the caller.
INSERT INTO conveyor_jobs (id, queue, state, run_at, position, func, payload,
    title, description, meta, timeout, result_ttl, failure_ttl,
    max_attempts, retry, created_at, enqueued_at, options)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)

-- name: enqueue_at_back
-- One job on its own, when the backend is in no transaction: one statement,
-- which (autocommit) is its own transaction, takes the queue's end and
-- inserts, instead of BEGIN, a look at the end, a savepoint, the insert and
-- COMMIT.
INSERT INTO conveyor_jobs (id, queue, state, run_at, position, func, payload,
    title, description, meta, timeout, result_ttl, failure_ttl,
    max_attempts, retry, created_at, enqueued_at, options)
VALUES (?1, ?2, ?3, ?4,
    coalesce((SELECT MAX(position) FROM conveyor_jobs
              WHERE queue=?2 AND state='queued'), 0) + 1,
    ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)

-- name: enqueue_at_front
-- As enqueue_at_back, before the queue's first job.
INSERT INTO conveyor_jobs (id, queue, state, run_at, position, func, payload,
    title, description, meta, timeout, result_ttl, failure_ttl,
    max_attempts, retry, created_at, enqueued_at, options)
VALUES (?1, ?2, ?3, ?4,
    coalesce((SELECT MIN(position) FROM conveyor_jobs
              WHERE queue=?2 AND state='queued'), 0) - 1,
    ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)

-- name: delete_ended
-- The records of ended jobs with these ids (a JSON array), so the ids can be
-- used again (RQ reuses ids).
DELETE FROM conveyor_jobs
WHERE id IN (SELECT value FROM json_each(?))
    AND state IN ('finished', 'failed', 'canceled')

-- name: live
SELECT 1 FROM conveyor_jobs WHERE id=? AND state NOT IN ('finished', 'failed', 'canceled')

-- name: queued_ids
-- A queue's first queued jobs, in claim order (from the partial index
-- conveyor_jobs_claim).
SELECT id FROM conveyor_jobs WHERE queue=? AND state='queued' ORDER BY position LIMIT ?

-- name: next_due
SELECT MIN(run_at) FROM conveyor_jobs WHERE state='scheduled'

-- name: mark_started
UPDATE conveyor_jobs
SET state='started', attempts=attempts+1, worker=?, lease_token=?, lease_expires_at=?,
    started_at=?, run_at=NULL
WHERE id=?

-- name: jobs
-- The records of these ids (a JSON array), in no particular order.
SELECT id, queue, state, func, payload, title, description, meta, timeout, result_ttl,
    failure_ttl, max_attempts, retry, attempts, created_at, enqueued_at, run_at,
    started_at, ended_at, worker, lease_token, lease_expires_at, result, errors, options
FROM conveyor_jobs WHERE id IN (SELECT value FROM json_each(?))

-- name: due
SELECT id, queue FROM conveyor_jobs WHERE state='scheduled' AND run_at<=? ORDER BY run_at

-- name: to_back
-- A scheduled job joins its queue: the position given is past its back.
UPDATE conveyor_jobs SET state='queued', position=?, run_at=NULL WHERE id=?

-- name: held
-- A started job, if this token still holds its lease.
SELECT queue, result_ttl, failure_ttl FROM conveyor_jobs
WHERE id=? AND state='started' AND lease_token=?

-- name: set_started_at
UPDATE conveyor_jobs SET started_at=? WHERE id=?

-- name: fail
-- The worker stays on the record (who ran it); the lease goes. An outcome
-- without an error leaves the history as it is (no null entry).
UPDATE conveyor_jobs
SET lease_token=NULL, lease_expires_at=NULL, state='failed', ended_at=:now,
    expires_at=:expires,
    errors=CASE WHEN :error IS NULL THEN errors
                ELSE json_insert(errors, '$[#]', json(:error)) END
WHERE id=:id

-- name: retry_later
-- As fail, to run again at :run_at; :back is 1 for an attempt not counted.
UPDATE conveyor_jobs
SET lease_token=NULL, lease_expires_at=NULL, state='scheduled', run_at=:run_at,
    attempts=MAX(attempts-:back, 0),
    errors=CASE WHEN :error IS NULL THEN errors
                ELSE json_insert(errors, '$[#]', json(:error)) END
WHERE id=:id

-- name: release
-- A released job goes back to its queue (at the position given) without its
-- attempt counted, and without a worker or start time.
UPDATE conveyor_jobs
SET lease_token=NULL, lease_expires_at=NULL, state='queued', position=?,
    attempts=MAX(attempts-1, 0), started_at=NULL, worker=NULL
WHERE id=?

-- name: delete_job
DELETE FROM conveyor_jobs WHERE id=?

-- name: finish
-- The hot path of complete(): one statement that checks the lease and records.
UPDATE conveyor_jobs
SET lease_token=NULL, lease_expires_at=NULL, state='finished', ended_at=:now,
    result=:result, started_at=COALESCE(:started, started_at),
    expires_at=CASE WHEN result_ttl < 0 THEN NULL ELSE :now + result_ttl END
WHERE id=:id AND state='started' AND lease_token=:token
RETURNING result_ttl, queue, enqueued_at, started_at

-- name: extend
UPDATE conveyor_jobs SET lease_expires_at=? WHERE id=? AND state='started' AND lease_token=?

-- name: save_meta
UPDATE conveyor_jobs SET meta=? WHERE id=?

-- name: save_meta_held
UPDATE conveyor_jobs SET meta=? WHERE id=? AND state='started' AND lease_token=?

-- name: lost
-- Started jobs whose lease expired: their worker is gone.
SELECT id, queue, worker, attempts, max_attempts, failure_ttl FROM conveyor_jobs
WHERE state='started' AND lease_expires_at < ?

-- name: recover_retry
UPDATE conveyor_jobs
SET state='queued', position=?, worker=NULL, lease_token=NULL, lease_expires_at=NULL,
    errors=json_insert(errors, '$[#]', json(?))
WHERE id=?

-- name: recover_fail
UPDATE conveyor_jobs
SET state='failed', ended_at=?, expires_at=?, worker=NULL, lease_token=NULL,
    lease_expires_at=NULL, errors=json_insert(errors, '$[#]', json(?))
WHERE id=?

-- name: purge_jobs
DELETE FROM conveyor_jobs WHERE expires_at IS NOT NULL AND expires_at <= ?

-- name: purge_workers
DELETE FROM conveyor_workers WHERE expires_at <= ?

-- name: purge_stats
DELETE FROM conveyor_stats WHERE minute < ?

-- name: requeueable
SELECT queue FROM conveyor_jobs WHERE id=? AND state IN ('failed', 'canceled')

-- name: requeue
UPDATE conveyor_jobs
SET state='queued', position=?, attempts=0, enqueued_at=?, started_at=NULL, ended_at=NULL,
    expires_at=NULL, worker=NULL, result=NULL, run_at=NULL
WHERE id=?

-- name: scheduled_queue
SELECT queue FROM conveyor_jobs WHERE id=? AND state='scheduled'

-- name: register_worker
INSERT INTO conveyor_workers (key, info, started_at, expires_at)
VALUES (?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET info=excluded.info, expires_at=excluded.expires_at

-- name: unregister_worker
DELETE FROM conveyor_workers WHERE key=?

-- name: workers
SELECT info FROM conveyor_workers WHERE expires_at > ? ORDER BY started_at, key

-- name: get
SELECT id, queue, state, func, payload, title, description, meta, timeout, result_ttl,
    failure_ttl, max_attempts, retry, attempts, created_at, enqueued_at, run_at,
    started_at, ended_at, worker, lease_token, lease_expires_at, result, errors, options
FROM conveyor_jobs WHERE id=?

-- name: list_queued
-- A page of a queue's queued jobs. The state written out, not bound: only then
-- can SQLite read them in claim order from the partial index
-- conveyor_jobs_claim rather than sort all of them (half a second at a million).
SELECT id, queue, state, func, payload, title, description, meta, timeout, result_ttl,
    failure_ttl, max_attempts, retry, attempts, created_at, enqueued_at, run_at,
    started_at, ended_at, worker, lease_token, lease_expires_at, result, errors, options
FROM conveyor_jobs WHERE queue=? AND state='queued'
ORDER BY position LIMIT ? OFFSET ?

-- name: list_ended
-- A page of a queue's jobs in one ended state, most recent first, read in
-- that order from conveyor_jobs_queue_state_ended.
SELECT id, queue, state, func, payload, title, description, meta, timeout, result_ttl,
    failure_ttl, max_attempts, retry, attempts, created_at, enqueued_at, run_at,
    started_at, ended_at, worker, lease_token, lease_expires_at, result, errors, options
FROM conveyor_jobs WHERE queue=? AND state=?
ORDER BY ended_at DESC LIMIT ? OFFSET ?

-- name: list_any
-- A page of a queue's jobs in any of some states (a JSON array): queued
-- first, then scheduled, started and ended, each in its own order.
SELECT id, queue, state, func, payload, title, description, meta, timeout, result_ttl,
    failure_ttl, max_attempts, retry, attempts, created_at, enqueued_at, run_at,
    started_at, ended_at, worker, lease_token, lease_expires_at, result, errors, options
FROM conveyor_jobs WHERE queue=? AND state IN (SELECT value FROM json_each(?))
ORDER BY CASE state WHEN 'queued' THEN 0 WHEN 'scheduled' THEN 1 WHEN 'started' THEN 2 ELSE 3 END,
    CASE state WHEN 'queued' THEN position WHEN 'scheduled' THEN run_at
        WHEN 'started' THEN started_at ELSE -ended_at END
LIMIT ? OFFSET ?

-- name: kept_counts
-- Per queue, its records in some states (queues and states: JSON arrays),
-- from conveyor_counts (migration 0005).
SELECT queue, SUM(n) FROM conveyor_counts
WHERE queue IN (SELECT value FROM json_each(?)) AND state IN (SELECT value FROM json_each(?))
GROUP BY queue

-- name: queue_names
-- The queues with jobs whose names start with a prefix (given, and the prefix
-- followed by the highest character).
SELECT DISTINCT queue FROM conveyor_counts WHERE queue >= ? AND queue < ? AND n > 0
ORDER BY queue

-- name: count
SELECT queue, state, n FROM conveyor_counts
WHERE queue IN (SELECT value FROM json_each(?)) AND n > 0

-- name: stats
SELECT queue, minute, finished, failed, wait_sum, wait_count, run_sum, run_count
FROM conveyor_stats WHERE minute BETWEEN ? AND ? AND queue >= ? AND queue < ?
ORDER BY queue, minute

-- name: cancel_started
UPDATE conveyor_jobs
SET state='canceled', ended_at=?, expires_at=?, lease_token=NULL, lease_expires_at=NULL
WHERE id=?

-- name: delete_returning
DELETE FROM conveyor_jobs WHERE id=?
RETURNING id, queue, state, func, payload, title, description, meta, timeout, result_ttl,
    failure_ttl, max_attempts, retry, attempts, created_at, enqueued_at, run_at,
    started_at, ended_at, worker, lease_token, lease_expires_at, result, errors, options

-- name: clear
-- The queued and scheduled jobs of some queues (a JSON array).
DELETE FROM conveyor_jobs
WHERE queue IN (SELECT value FROM json_each(?)) AND state IN ('queued', 'scheduled')
RETURNING queue

-- name: save_token
INSERT INTO conveyor_tokens (site_id, name, hash, read_only, created_at) VALUES (?, ?, ?, ?, ?)

-- name: tokens
SELECT site_id, name, hash, read_only, created_at FROM conveyor_tokens
WHERE site_id=? ORDER BY name

-- name: revoke_token
DELETE FROM conveyor_tokens WHERE site_id=? AND name=?

-- name: find_token
SELECT site_id, name, hash, read_only, created_at FROM conveyor_tokens WHERE hash=?

-- name: count_moved
-- Kept counts (migration 0005) for the moves the triggers leave out.
INSERT INTO conveyor_counts (queue, state, n) VALUES (?, ?, ?)
ON CONFLICT (queue, state) DO UPDATE SET n = n + excluded.n

-- name: stats_finished
INSERT INTO conveyor_stats (queue, minute, finished, wait_sum, wait_count, run_sum, run_count)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (queue, minute) DO UPDATE SET
    finished = finished + excluded.finished, wait_sum = wait_sum + excluded.wait_sum,
    wait_count = wait_count + excluded.wait_count, run_sum = run_sum + excluded.run_sum,
    run_count = run_count + excluded.run_count

-- name: periodic_declare
INSERT INTO conveyor_periodic (name, schedule, timezone, func, queue, last_tick, declared_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET schedule=excluded.schedule, timezone=excluded.timezone,
    func=excluded.func, queue=excluded.queue, declared_at=excluded.declared_at

-- name: periodic_take
-- The compare-and-set: move last_tick to the tick if enabled and before it;
-- the job's id and time are recorded only for a tick that runs.
UPDATE conveyor_periodic
SET last_tick=?,
    last_job_id=CASE WHEN ? THEN ? ELSE last_job_id END,
    last_enqueued_at=CASE WHEN ? THEN ? ELSE last_enqueued_at END
WHERE name=? AND enabled=1 AND (last_tick IS NULL OR last_tick < ?)

-- name: periodic_entries
SELECT * FROM conveyor_periodic WHERE substr(name, 1, ?)=? ORDER BY name

-- name: periodic_get
SELECT * FROM conveyor_periodic WHERE name=?

-- name: periodic_enable
UPDATE conveyor_periodic SET enabled=? WHERE name=?

-- name: periodic_forget
DELETE FROM conveyor_periodic WHERE name=?

-- name: pause_queue
INSERT INTO conveyor_paused_queues (queue, paused_at) VALUES (?, ?)
ON CONFLICT (queue) DO NOTHING

-- name: resume_queue
DELETE FROM conveyor_paused_queues WHERE queue=?

-- name: paused_queues
SELECT queue FROM conveyor_paused_queues WHERE substr(queue, 1, ?)=? ORDER BY queue

-- name: expire_commands
DELETE FROM conveyor_worker_commands WHERE expires_at <= ?

-- name: command_worker
-- 'stop' (the last parameter) is never downgraded to 'quiet'.
INSERT INTO conveyor_worker_commands (key, command, expires_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET expires_at=excluded.expires_at,
    command=CASE WHEN command=? THEN command ELSE excluded.command END

-- name: worker_control
-- The paused queues among a worker's (a JSON array), and its command.
SELECT queue, NULL FROM conveyor_paused_queues
WHERE queue IN (SELECT value FROM json_each(?))
UNION ALL SELECT NULL, command FROM conveyor_worker_commands WHERE key=?

-- name: forget_worker_command
DELETE FROM conveyor_worker_commands WHERE key=?
