-- Migration 0003: periodic jobs. One row per periodic job (its full name: the
-- site's queue prefix and the job's name), holding what the workers last
-- declared about it, whether it is enabled, and the latest tick taken, which
-- Backend.claim_tick moves with a compare-and-set.
CREATE TABLE conveyor_periodic (
    name             TEXT PRIMARY KEY,
    schedule         TEXT NOT NULL,                 -- 'cron <expression>' or 'every <seconds>'
    timezone         TEXT NOT NULL,
    func             TEXT NOT NULL,
    queue            TEXT NOT NULL,                 -- full queue name
    enabled          INTEGER NOT NULL DEFAULT 1,
    last_tick        REAL,                          -- the latest tick taken (run or skipped)
    last_job_id      TEXT,                          -- the job enqueued for the latest tick run
    last_enqueued_at REAL,
    declared_at      REAL NOT NULL
);
