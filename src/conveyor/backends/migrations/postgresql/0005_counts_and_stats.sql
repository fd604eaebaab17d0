-- Migration 0005: counts that never scan the jobs, and per-minute statistics.
--
-- How many job records each queue holds in each state is conveyor_counts (a base
-- count per queue and state) plus the deltas in conveyor_count_changes, appended
-- in the transaction of every change of conveyor_jobs: concurrent writers only
-- ever insert, so workers completing jobs at once never queue up behind one hot
-- counter row (or deadlock over two). The three moves a worker makes for every
-- job are counted by the statements that make them, one delta row per queue and
-- state of a statement: the insert (enqueue.sql, enqueue_one.sql), queued ->
-- started (claim.sql) and started -> finished (complete.sql). Every other change
-- of state or queue is counted by a row trigger, whose WHEN clause leaves those
-- three out at no cost, and every delete by a statement trigger (one delta row
-- per queue and state, however many rows a purge or a clear deletes). A reader
-- sums the base and the deltas in one snapshot; Backend.purge() (and a count that
-- met many deltas) folds the deltas into the base under an advisory lock
-- (sql/compact_counts.sql).
SET LOCAL client_min_messages = warning;

CREATE TABLE conveyor_counts (
    queue  text COLLATE "C" NOT NULL,
    state  text COLLATE "C" NOT NULL,
    n      bigint NOT NULL,
    PRIMARY KEY (queue, state)
);
CREATE TABLE conveyor_count_changes (
    queue  text COLLATE "C" NOT NULL,
    state  text COLLATE "C" NOT NULL,
    delta  bigint NOT NULL
);
LOCK TABLE conveyor_jobs IN SHARE ROW EXCLUSIVE MODE;  -- no change between count and triggers
INSERT INTO conveyor_counts (queue, state, n)
    SELECT queue, state, count(*) FROM conveyor_jobs GROUP BY queue, state;

-- The trigger functions name the tables of the schema they were made in, so they
-- work whatever search path the session that fires them has (an application's
-- own connection, enqueue_on()).
DO $migration$
BEGIN
    EXECUTE format($f$
        CREATE FUNCTION %1$I.conveyor_count_moved() RETURNS trigger
        LANGUAGE plpgsql AS $body$
        BEGIN
            INSERT INTO %1$I.conveyor_count_changes (queue, state, delta)
            VALUES (OLD.queue, OLD.state, -1), (NEW.queue, NEW.state, 1);
            RETURN NULL;
        END
        $body$;
        CREATE FUNCTION %1$I.conveyor_count_deleted() RETURNS trigger
        LANGUAGE plpgsql AS $body$
        BEGIN
            INSERT INTO %1$I.conveyor_count_changes (queue, state, delta)
            SELECT queue, state, -count(*) FROM conveyor_removed GROUP BY queue, state;
            RETURN NULL;
        END
        $body$;
    $f$, current_schema());
END
$migration$;

CREATE TRIGGER conveyor_jobs_count_update AFTER UPDATE OF queue, state ON conveyor_jobs
    FOR EACH ROW
    WHEN ((OLD.queue, OLD.state) IS DISTINCT FROM (NEW.queue, NEW.state)
          AND NOT (OLD.queue = NEW.queue
                   AND ((OLD.state = 'queued' AND NEW.state = 'started')
                        OR (OLD.state = 'started' AND NEW.state = 'finished'))))
    EXECUTE FUNCTION conveyor_count_moved();
CREATE TRIGGER conveyor_jobs_count_delete AFTER DELETE ON conveyor_jobs
    REFERENCING OLD TABLE AS conveyor_removed
    FOR EACH STATEMENT EXECUTE FUNCTION conveyor_count_deleted();

-- conveyor_stats: per queue and minute (epoch seconds // 60), the jobs that ended
-- finished or failed in it, with the sums and counts of their wait (enqueue to
-- start) and their run (start to end). complete.sql and recover.sql add to it in
-- their own statement. Concurrent completions spread over a few rows per minute
-- (``shard``: the session's backend pid modulo 8) rather than all wait for one;
-- readers add the shards up. Backend.purge() drops the minutes older than the
-- retention (conveyor.backends.base.STATS_RETENTION).
CREATE TABLE conveyor_stats (
    queue       text COLLATE "C" NOT NULL,
    minute      bigint NOT NULL,
    shard       smallint NOT NULL,
    finished    bigint NOT NULL DEFAULT 0,
    failed      bigint NOT NULL DEFAULT 0,
    wait_sum    double precision NOT NULL DEFAULT 0,
    wait_count  bigint NOT NULL DEFAULT 0,
    run_sum     double precision NOT NULL DEFAULT 0,
    run_count   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, minute, shard)
);
CREATE INDEX conveyor_stats_minute ON conveyor_stats (minute);

-- A listing of one ended state (the dashboard's finished, failed and canceled
-- tabs) reads the queue's records most recent first from this index instead of
-- sorting all of them; it replaces the (queue, state) index, whose entries it
-- holds, so writes keep the same number of indexes.
DROP INDEX conveyor_jobs_queue_state;
CREATE INDEX conveyor_jobs_queue_state_ended ON conveyor_jobs (queue, state, ended_at);
