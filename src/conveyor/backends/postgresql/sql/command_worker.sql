-- Leave a command for a worker (migration 0004): 'stop' is never downgraded to
-- 'quiet'. Commands never read (their worker was killed) are dropped on the way.
WITH expired AS (
    DELETE FROM conveyor_worker_commands WHERE expires_at <= %(now)s AND key <> %(key)s
)
INSERT INTO conveyor_worker_commands AS c (key, command, expires_at)
VALUES (%(key)s, %(command)s, %(expires_at)s)
ON CONFLICT (key) DO UPDATE SET
    expires_at = excluded.expires_at,
    command = CASE WHEN c.command = 'stop' THEN c.command ELSE excluded.command END
RETURNING key
