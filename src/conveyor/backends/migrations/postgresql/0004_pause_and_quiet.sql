-- Migration 0004: pausing queues and commanding workers (conveyor.backends.control).
-- A row in conveyor_paused_queues is a paused queue (its full name); a row in
-- conveyor_worker_commands is a command ('quiet' or 'stop') for the worker of that
-- key, read by the worker at its heartbeat and dropped when it stops.
CREATE TABLE conveyor_paused_queues (
    queue     text COLLATE "C" PRIMARY KEY,
    paused_at double precision NOT NULL
);
CREATE TABLE conveyor_worker_commands (
    key        text COLLATE "C" PRIMARY KEY,
    command    text NOT NULL,                       -- 'quiet' or 'stop'
    expires_at double precision NOT NULL            -- dropped after this if never read
);
