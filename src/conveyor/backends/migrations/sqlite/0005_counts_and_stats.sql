-- Migration 0005: counts that never scan the jobs, and per-minute statistics.
--
-- conveyor_counts holds, per queue and state, how many job records there are.
-- The triggers below keep it in the same transaction as every state change and
-- delete of conveyor_jobs, whoever makes it; inserts are counted by enqueue()
-- itself, one statement per (queue, state) of a batch rather than one per job
-- (a trigger per inserted row cost enqueue about 4 us a job, more than half of
-- a batch insert's own). Backend.count(), the listings' totals and
-- queue_names() read it instead of counting rows. A row whose count fell to 0
-- stays (it is read as none).
CREATE TABLE conveyor_counts (
    queue  TEXT NOT NULL,
    state  TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (queue, state)
) WITHOUT ROWID;
INSERT INTO conveyor_counts (queue, state, n)
    SELECT queue, state, COUNT(*) FROM conveyor_jobs GROUP BY queue, state;
CREATE TRIGGER conveyor_jobs_count_delete AFTER DELETE ON conveyor_jobs
BEGIN
    UPDATE conveyor_counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;
END;
CREATE TRIGGER conveyor_jobs_count_update AFTER UPDATE OF queue, state ON conveyor_jobs
WHEN OLD.state IS NOT NEW.state OR OLD.queue IS NOT NEW.queue
BEGIN
    UPDATE conveyor_counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;
    INSERT INTO conveyor_counts (queue, state, n) VALUES (NEW.queue, NEW.state, 1)
        ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;

-- conveyor_stats: per queue and minute (epoch seconds // 60), the jobs that ended
-- finished or failed in it, with the sums and counts of their wait (enqueue to
-- start) and their run (start to end). Written by the trigger below when a started
-- job ends (complete, or recover when its attempts are spent); Backend.purge()
-- drops the minutes older than the retention (conveyor.backends.base.STATS_RETENTION).
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
WHEN OLD.state = 'started' AND NEW.state IN ('finished', 'failed') AND NEW.ended_at IS NOT NULL
BEGIN
    INSERT INTO conveyor_stats (
        queue, minute, finished, failed, wait_sum, wait_count, run_sum, run_count
    ) VALUES (
        NEW.queue,
        CAST(NEW.ended_at / 60 AS INTEGER),
        NEW.state = 'finished',
        NEW.state = 'failed',
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
