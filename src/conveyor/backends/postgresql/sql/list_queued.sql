-- One page of a queue's queued jobs, in the order they will be claimed.
SELECT * FROM conveyor_jobs
WHERE queue = %(queue)s AND state = 'queued'
ORDER BY position
LIMIT %(limit)s OFFSET %(offset)s
