-- Pause queues (migration 0004); returns those that were not paused before.
INSERT INTO conveyor_paused_queues (queue, paused_at)
SELECT queue, %(now)s FROM unnest(%(queues)s::text[]) AS queue
ON CONFLICT (queue) DO NOTHING
RETURNING queue
