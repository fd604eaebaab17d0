-- Migration 0005: counts that never scan the jobs, and per-minute statistics.
--
-- conveyor_counts holds, per queue and state, how many job records there are,
-- kept in the same transaction as every change of conveyor_jobs: by the
-- triggers below, except for the two moves a worker makes for every job, which
-- the backend counts itself once per batch (sqlite_counts.py): queued ->
-- started (claim) and started -> finished (complete); per row, triggers cost
-- those paths about 8 us a job. Inserts are counted by a trigger: a job
-- enqueued alone is one autocommit INSERT, with no transaction to add a
-- statement to. Backend.count(), the listings' totals and
-- queue_names() read it instead of counting rows. A row whose count fell to 0
-- stays (it is read as none). Every change is an upsert of a difference, so the
-- order of a transaction's changes does not matter (a batch's finished jobs are
-- added after the records of those kept for no time were deleted).
CREATE TABLE conveyor_counts (
    queue  TEXT NOT NULL,
    state  TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (queue, state)
) WITHOUT ROWID;
INSERT INTO conveyor_counts (queue, state, n)
    SELECT queue, state, COUNT(*) FROM conveyor_jobs GROUP BY queue, state;
CREATE TRIGGER conveyor_jobs_count_insert AFTER INSERT ON conveyor_jobs
BEGIN
    INSERT INTO conveyor_counts (queue, state, n) VALUES (NEW.queue, NEW.state, 1)
        ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER conveyor_jobs_count_delete AFTER DELETE ON conveyor_jobs
BEGIN
    INSERT INTO conveyor_counts (queue, state, n) VALUES (OLD.queue, OLD.state, -1)
        ON CONFLICT (queue, state) DO UPDATE SET n = n - 1;
END;
CREATE TRIGGER conveyor_jobs_count_update AFTER UPDATE OF queue, state ON conveyor_jobs
WHEN (OLD.state IS NOT NEW.state OR OLD.queue IS NOT NEW.queue)
    AND NOT (OLD.queue IS NEW.queue AND (
        (OLD.state = 'queued' AND NEW.state = 'started')
        OR (OLD.state = 'started' AND NEW.state = 'finished')))
BEGIN
    INSERT INTO conveyor_counts (queue, state, n) VALUES (OLD.queue, OLD.state, -1)
        ON CONFLICT (queue, state) DO UPDATE SET n = n - 1;
    INSERT INTO conveyor_counts (queue, state, n) VALUES (NEW.queue, NEW.state, 1)
        ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;

-- conveyor_stats: per queue and minute (epoch seconds // 60), the jobs that ended
-- finished or failed in it, with the sums and counts of their wait (enqueue to
-- start) and their run (start to end). A finished job is added by complete()
-- (sqlite_counts.py, once per batch); a failed one by the trigger below (complete,
-- or recover when its attempts are spent). Backend.purge() drops the minutes
-- older than the retention (conveyor.backends.base.STATS_RETENTION).
CREATE TABLE conveyor_stats (
    queue       TEXT NOT NULL,
    minute      INTEGER NOT NULL,
    finished    INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    wait_sum    REAL NOT NULL DEFAULT 0,
    wait_count  INTEGER NOT NULL DEFAULT 0,
    run_sum     REAL NOT NULL DEFAULT 0,
    run_count   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, minute)
) WITHOUT ROWID;
CREATE INDEX conveyor_stats_minute ON conveyor_stats (minute);
CREATE TRIGGER conveyor_jobs_stats AFTER UPDATE OF state ON conveyor_jobs
WHEN OLD.state = 'started' AND NEW.state = 'failed' AND NEW.ended_at IS NOT NULL
BEGIN
    INSERT INTO conveyor_stats (
        queue, minute, finished, failed, wait_sum, wait_count, run_sum, run_count
    ) VALUES (
        NEW.queue,
        CAST(NEW.ended_at / 60 AS INTEGER),
        0,
        1,
        COALESCE(MAX(NEW.started_at - NEW.enqueued_at, 0), 0),
        NEW.started_at IS NOT NULL,
        COALESCE(MAX(NEW.ended_at - NEW.started_at, 0), 0),
        NEW.started_at IS NOT NULL
    ) ON CONFLICT (queue, minute) DO UPDATE SET
        finished = finished + excluded.finished,
        failed = failed + excluded.failed,
        wait_sum = wait_sum + excluded.wait_sum,
        wait_count = wait_count + excluded.wait_count,
        run_sum = run_sum + excluded.run_sum,
        run_count = run_count + excluded.run_count;
END;

-- A listing of one ended state (the dashboard's finished, failed and canceled
-- tabs) reads the queue's records most recent first from this index instead of
-- sorting all of them; it replaces the (queue, state) index, whose entries it
-- holds, so writes keep the same number of indexes.
DROP INDEX conveyor_jobs_queue_state;
CREATE INDEX conveyor_jobs_queue_state_ended ON conveyor_jobs (queue, state, ended_at);
