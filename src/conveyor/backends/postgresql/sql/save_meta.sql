-- Replace a job's meta; with a token, only while that token holds the job's lease.
UPDATE conveyor_jobs
SET meta = %(meta)s::jsonb
WHERE id = %(id)s
    AND (%(token)s::text IS NULL OR (state = 'started' AND lease_token = %(token)s::text))
RETURNING id
