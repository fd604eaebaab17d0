-- The queues of one prefix (a site) that hold any job record, from the kept
-- counts (migration 0005; see count.sql), not from the jobs' rows.
SELECT queue
FROM (
    SELECT queue, n FROM conveyor_counts WHERE starts_with(queue, %(prefix)s)
    UNION ALL
    SELECT queue, delta FROM conveyor_count_changes WHERE starts_with(queue, %(prefix)s)
) AS kept
GROUP BY queue
HAVING sum(n) > 0
ORDER BY queue
