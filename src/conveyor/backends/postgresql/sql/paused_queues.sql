-- The paused queues whose name starts with a prefix (migration 0004).
SELECT queue FROM conveyor_paused_queues
WHERE left(queue, length(%(prefix)s)) = %(prefix)s
ORDER BY queue
