-- The queues of one prefix (a site) that hold any job record.
SELECT DISTINCT queue FROM conveyor_jobs
WHERE starts_with(queue, %(prefix)s)
ORDER BY queue
