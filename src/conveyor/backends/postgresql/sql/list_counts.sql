-- How many jobs of each queue are in the given states, from the kept counts
-- (migration 0005; see count.sql), not from the jobs' rows.
SELECT queue, sum(n)::bigint AS total
FROM (
    SELECT queue, n FROM conveyor_counts
    WHERE queue = ANY(%(queues)s::text[]) AND state = ANY(%(states)s::text[])
    UNION ALL
    SELECT queue, delta FROM conveyor_count_changes
    WHERE queue = ANY(%(queues)s::text[]) AND state = ANY(%(states)s::text[])
) AS kept
GROUP BY queue
