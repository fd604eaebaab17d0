-- Migration 0003: periodic jobs. One row per periodic job (its full name: the
-- site's queue prefix and the job's name), holding what the workers last
-- declared about it, whether it is enabled, and the latest tick taken, which
-- Backend.claim_tick moves with a compare-and-set.
CREATE TABLE conveyor_periodic (
    name             text COLLATE "C" PRIMARY KEY,
    schedule         text NOT NULL,                 -- 'cron <expression>' or 'every <seconds>'
    timezone         text NOT NULL,
    func             text NOT NULL,
    queue            text COLLATE "C" NOT NULL,     -- full queue name
    enabled          boolean NOT NULL DEFAULT true,
    last_tick        double precision,              -- the latest tick taken (run or skipped)
    last_job_id      text,                          -- the job enqueued for the latest tick run
    last_enqueued_at double precision,
    declared_at      double precision NOT NULL
);
