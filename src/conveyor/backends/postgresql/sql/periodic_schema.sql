-- Periodic jobs (issue 16): one entry per periodic job, holding the latest tick
-- taken. Additive and self-contained: applied (idempotently, under the schema
-- lock) when a backend first needs it, and ready to become a numbered migration.
CREATE TABLE IF NOT EXISTS conveyor_periodic (
    name             text COLLATE "C" PRIMARY KEY,  -- site's queue prefix + the job's name
    schedule         text NOT NULL,                 -- 'cron <expression>' or 'every <seconds>'
    timezone         text NOT NULL,
    func             text NOT NULL,
    queue            text COLLATE "C" NOT NULL,     -- full queue name
    enabled          boolean NOT NULL DEFAULT true,
    last_tick        double precision,              -- the latest tick taken (run or skipped)
    last_job_id      text,                          -- the job enqueued for the latest tick run
    last_enqueued_at double precision,
    declared_at      double precision NOT NULL
)
