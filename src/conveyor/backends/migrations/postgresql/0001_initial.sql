-- Migration 0001: conveyor's PostgreSQL schema as the first release (0.1) created
-- it, in the connection's current schema. Frozen: a change to the layout is a
-- new migration, never an edit here. It records its own version (as that release
-- did); later migrations are recorded by the runner.
SET LOCAL client_min_messages = warning;

CREATE TABLE IF NOT EXISTS conveyor_schema_version (
    version     integer PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- Claim order among queued jobs: back of a queue = nextval, front = -nextval.
CREATE SEQUENCE IF NOT EXISTS conveyor_jobs_position AS bigint;

CREATE TABLE IF NOT EXISTS conveyor_jobs (
    id               text COLLATE "C" PRIMARY KEY,
    queue            text COLLATE "C" NOT NULL,
    state            text COLLATE "C" NOT NULL CHECK (
        state IN ('queued', 'scheduled', 'started', 'finished', 'failed', 'canceled')
    ),
    position         bigint NOT NULL DEFAULT 0,
    func             text NOT NULL,
    payload          bytea NOT NULL,
    title            text,
    description      text,
    meta             jsonb NOT NULL DEFAULT '{}',
    timeout          integer NOT NULL,
    result_ttl       integer NOT NULL,
    failure_ttl      integer NOT NULL,
    max_attempts     integer NOT NULL,
    retry            jsonb,
    attempts         integer NOT NULL DEFAULT 0,
    created_at       double precision NOT NULL,   -- epoch seconds, as the interface passes them
    enqueued_at      double precision NOT NULL,
    run_at           double precision,
    started_at       double precision,
    ended_at         double precision,
    worker           text,
    lease_token      text,
    lease_expires_at double precision,
    result           bytea,
    errors           jsonb NOT NULL DEFAULT '[]',
    expires_at       double precision             -- when an ended record is purged
);
CREATE INDEX IF NOT EXISTS conveyor_jobs_claim
    ON conveyor_jobs (queue, position) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS conveyor_jobs_due
    ON conveyor_jobs (run_at) WHERE state = 'scheduled';
CREATE INDEX IF NOT EXISTS conveyor_jobs_leases
    ON conveyor_jobs (lease_expires_at) WHERE state = 'started';
CREATE INDEX IF NOT EXISTS conveyor_jobs_expiry
    ON conveyor_jobs (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS conveyor_jobs_queue_state
    ON conveyor_jobs (queue, state);

CREATE TABLE IF NOT EXISTS conveyor_workers (
    key         text COLLATE "C" PRIMARY KEY,
    info        jsonb NOT NULL,                  -- WorkerInfo as JSON
    started_at  double precision NOT NULL,
    expires_at  double precision NOT NULL
);

CREATE TABLE IF NOT EXISTS conveyor_tokens (
    site_id     text COLLATE "C" NOT NULL,
    name        text COLLATE "C" NOT NULL,
    hash        text COLLATE "C" NOT NULL UNIQUE, -- SHA-256 of the token; the token is never stored
    read_only   boolean NOT NULL,
    created_at  double precision NOT NULL,
    PRIMARY KEY (site_id, name)
);

INSERT INTO conveyor_schema_version (version) VALUES (1) ON CONFLICT (version) DO NOTHING;
