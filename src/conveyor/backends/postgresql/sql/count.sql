SELECT queue, state, count(*) AS total
FROM conveyor_jobs
WHERE queue = ANY(%(queues)s::text[])
GROUP BY queue, state
