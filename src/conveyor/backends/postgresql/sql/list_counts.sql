-- How many jobs of each queue are in the given states.
SELECT queue, count(*) AS total
FROM conveyor_jobs
WHERE queue = ANY(%(queues)s::text[]) AND state = ANY(%(states)s::text[])
GROUP BY queue
