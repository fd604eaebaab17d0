-- Migration 0001: conveyor's SQLite schema as the first release (0.1) created it.
-- Frozen: a change to the layout is a new migration, never an edit here.
-- Every statement is idempotent, so a store made before migrations existed (which
-- has these tables but no conveyor_schema_version) is brought under them by
-- running this file again. user_version 3 marks that pre-migration layout (1 had
-- no workers table, 2 no tokens table); the applied migrations are recorded in
-- conveyor_schema_version, not in user_version.
CREATE TABLE IF NOT EXISTS conveyor_jobs (
    id               TEXT PRIMARY KEY,
    queue            TEXT NOT NULL,
    state            TEXT NOT NULL,
    position         INTEGER NOT NULL DEFAULT 0,   -- claim order among queued jobs
    func             TEXT NOT NULL,
    payload          BLOB NOT NULL,
    title            TEXT,
    description      TEXT,
    meta             TEXT NOT NULL DEFAULT '{}',
    timeout          INTEGER NOT NULL,
    result_ttl       INTEGER NOT NULL,
    failure_ttl      INTEGER NOT NULL,
    max_attempts     INTEGER NOT NULL,
    retry            TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       REAL NOT NULL,
    enqueued_at      REAL NOT NULL,
    run_at           REAL,
    started_at       REAL,
    ended_at         REAL,
    worker           TEXT,
    lease_token      TEXT,
    lease_expires_at REAL,
    result           BLOB,
    errors           TEXT NOT NULL DEFAULT '[]',
    expires_at       REAL                          -- when an ended record is purged
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
    key          TEXT PRIMARY KEY,
    info         TEXT NOT NULL,                   -- WorkerInfo as JSON
    started_at   REAL NOT NULL,
    expires_at   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS conveyor_tokens (
    site_id      TEXT NOT NULL,
    name         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,            -- SHA-256 of the token; the token is never stored
    read_only    INTEGER NOT NULL,
    created_at   REAL NOT NULL,
    PRIMARY KEY (site_id, name)
);
PRAGMA user_version = 3;
