-- What a worker reads at its heartbeat (migration 0004): which of its queues
-- are paused, and the command left for it.
SELECT queue, NULL::text AS command FROM conveyor_paused_queues
WHERE queue = ANY(%(queues)s::text[])
UNION ALL
SELECT NULL, command FROM conveyor_worker_commands WHERE key = %(key)s
