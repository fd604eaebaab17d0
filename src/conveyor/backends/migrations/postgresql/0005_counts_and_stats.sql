-- Migration 0005: counts that never scan the jobs, and per-minute statistics.
--
-- How many job records each queue holds in each state is conveyor_counts (a base
-- count per queue and state) plus the deltas in conveyor_count_changes. Triggers
-- on conveyor_jobs, one per statement, append one delta row per (queue, state) a
-- statement changed, in the statement's own transaction: concurrent writers only
-- ever insert, so workers completing jobs at once never queue up behind one hot
-- counter row (or deadlock over two). A reader sums the base and the deltas in one
-- snapshot; Backend.purge() (and a count that met many deltas) folds the deltas
-- into the base under an advisory lock (sql/compact_counts.sql).
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
-- own connection, enqueue_in()).
DO $migration$
BEGIN
    EXECUTE format($f$
        CREATE FUNCTION %1$I.conveyor_count_inserted() RETURNS trigger
        LANGUAGE plpgsql AS $body$
        BEGIN
            INSERT INTO %1$I.conveyor_count_changes (queue, state, delta)
            SELECT queue, state, count(*) FROM conveyor_added GROUP BY queue, state;
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
        CREATE FUNCTION %1$I.conveyor_count_updated() RETURNS trigger
        LANGUAGE plpgsql AS $body$
        BEGIN
            -- Rows whose queue and state did not change cancel out (a lease
            -- extended, meta saved): nothing is written for them.
            INSERT INTO %1$I.conveyor_count_changes (queue, state, delta)
            SELECT queue, state, sum(delta) FROM (
                SELECT queue, state, -1 AS delta FROM conveyor_before
                UNION ALL
                SELECT queue, state, 1 FROM conveyor_after
            ) AS moved
            GROUP BY queue, state
            HAVING sum(delta) <> 0;
            RETURN NULL;
        END
        $body$;
    $f$, current_schema());
END
$migration$;

CREATE TRIGGER conveyor_jobs_count_insert AFTER INSERT ON conveyor_jobs
    REFERENCING NEW TABLE AS conveyor_added
    FOR EACH STATEMENT EXECUTE FUNCTION conveyor_count_inserted();
CREATE TRIGGER conveyor_jobs_count_delete AFTER DELETE ON conveyor_jobs
    REFERENCING OLD TABLE AS conveyor_removed
    FOR EACH STATEMENT EXECUTE FUNCTION conveyor_count_deleted();
CREATE TRIGGER conveyor_jobs_count_update AFTER UPDATE ON conveyor_jobs
    REFERENCING OLD TABLE AS conveyor_before NEW TABLE AS conveyor_after
    FOR EACH STATEMENT EXECUTE FUNCTION conveyor_count_updated();

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
