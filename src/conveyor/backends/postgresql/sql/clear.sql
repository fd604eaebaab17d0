-- Delete the queued and scheduled jobs of some queues. A job a worker is
-- claiming right now is waited for, and then left alone (it is started).
DELETE FROM conveyor_jobs
WHERE queue = ANY(%(queues)s::text[]) AND state IN ('queued', 'scheduled')
RETURNING queue
