-- The per-minute statistics (migration 0005) of one prefix's queues from minute
-- `first` to minute `last`, the shards of each minute added up.
SELECT queue, minute, sum(finished)::bigint AS finished, sum(failed)::bigint AS failed,
       sum(wait_sum) AS wait_sum, sum(wait_count)::bigint AS wait_count,
       sum(run_sum) AS run_sum, sum(run_count)::bigint AS run_count
FROM conveyor_stats
WHERE minute BETWEEN %(first)s AND %(last)s AND starts_with(queue, %(prefix)s)
GROUP BY queue, minute
ORDER BY queue, minute
