-- Per queue and state, how many job records there are: the kept counts plus
-- the changes not folded in yet (migration 0005), read in one snapshot, so
-- exact; never a count of conveyor_jobs' rows. ``changes`` is how many change
-- rows were read (past a bound, the caller folds them in: compact_counts.sql).
SELECT queue, state, sum(n)::bigint AS total, sum(rows)::bigint AS changes
FROM (
    SELECT queue, state, n, 0 AS rows FROM conveyor_counts
    WHERE queue = ANY(%(queues)s::text[])
    UNION ALL
    SELECT queue, state, delta, 1 FROM conveyor_count_changes
    WHERE queue = ANY(%(queues)s::text[])
) AS kept
GROUP BY queue, state
