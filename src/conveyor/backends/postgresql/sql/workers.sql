-- Live workers, oldest first (the caller picks those of one site).
SELECT info FROM conveyor_workers
WHERE expires_at > %(now)s
ORDER BY started_at, key
