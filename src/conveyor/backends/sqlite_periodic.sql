-- Periodic jobs (issue 16): one entry per periodic job, holding the latest tick
-- taken. Additive and self-contained: applied when a backend first needs it, and
-- ready to become a numbered migration.
CREATE TABLE IF NOT EXISTS conveyor_periodic (
    name             TEXT PRIMARY KEY,              -- site's queue prefix + the job's name
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
