-- Which of these job ids are taken by a job that has not ended (to name the one
-- an enqueue collided with: an ended job's id is reused).
SELECT id FROM conveyor_jobs
WHERE id = ANY(%(ids)s::text[]) AND state NOT IN ('finished', 'failed', 'canceled')
