-- One page of a queue's jobs in the given states: queued ones in claim
-- order, then scheduled ones by due time, started ones by start, and ended
-- ones most recent first.
SELECT * FROM conveyor_jobs
WHERE queue = %(queue)s AND state = ANY(%(states)s::text[])
ORDER BY
    CASE state WHEN 'queued' THEN 0 WHEN 'scheduled' THEN 1 WHEN 'started' THEN 2 ELSE 3 END,
    CASE state
        WHEN 'queued' THEN position
        WHEN 'scheduled' THEN run_at
        WHEN 'started' THEN started_at
        ELSE -ended_at
    END,
    id
LIMIT %(limit)s OFFSET %(offset)s
