-- Wake the workers listening on these queues (delivered at commit).
SELECT pg_notify('conveyor_' || md5(current_schema() || '/' || q), '') AS woken
FROM unnest(%(queues)s::text[]) AS q
