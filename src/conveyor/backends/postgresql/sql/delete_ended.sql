-- The records of ended jobs with these ids, which an enqueue reuses (as RQ does).
DELETE FROM conveyor_jobs
WHERE id = ANY(%(ids)s::text[]) AND state IN ('finished', 'failed', 'canceled')
