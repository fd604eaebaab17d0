-- Resume queues (migration 0004); returns those that were paused.
DELETE FROM conveyor_paused_queues WHERE queue = ANY(%(queues)s::text[])
RETURNING queue
