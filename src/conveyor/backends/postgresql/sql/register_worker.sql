-- Record a worker, or refresh its registration at a heartbeat.
INSERT INTO conveyor_workers (key, info, started_at, expires_at)
VALUES (%(key)s, %(info)s::jsonb, %(started_at)s, %(expires_at)s)
ON CONFLICT (key) DO UPDATE SET info = excluded.info, expires_at = excluded.expires_at
