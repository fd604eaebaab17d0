-- Migration 0004: pausing queues and commanding workers (conveyor.backends.control).
-- A row in conveyor_paused_queues is a paused queue (its full name); a row in
-- conveyor_worker_commands is a command ('quiet' or 'stop') for the worker of that
-- key, read by the worker at its heartbeat and dropped when it stops.
CREATE TABLE conveyor_paused_queues (
    queue     TEXT PRIMARY KEY,
    paused_at REAL NOT NULL
);
CREATE TABLE conveyor_worker_commands (
    key        TEXT PRIMARY KEY,
    command    TEXT NOT NULL,                       -- 'quiet' or 'stop'
    expires_at REAL NOT NULL                        -- dropped after this if never read
);
