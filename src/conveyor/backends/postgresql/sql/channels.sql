-- The notification channels of these queues: one per queue and schema, named
-- by a hash because a channel name is limited to 63 bytes.
SELECT 'conveyor_' || md5(current_schema() || '/' || q) AS channel
FROM unnest(%(queues)s::text[]) AS q
