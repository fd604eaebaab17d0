-- Create or update periodic-job entries; an existing one keeps its state.
INSERT INTO conveyor_periodic (name, schedule, timezone, func, queue, last_tick, declared_at)
SELECT d.name, d.schedule, d.timezone, d.func, d.queue, d.baseline, %(now)s
FROM unnest(
    %(names)s::text[], %(schedules)s::text[], %(timezones)s::text[], %(funcs)s::text[],
    %(queues)s::text[], %(baselines)s::double precision[]
) AS d (name, schedule, timezone, func, queue, baseline)
ON CONFLICT (name) DO UPDATE SET
    schedule = excluded.schedule, timezone = excluded.timezone, func = excluded.func,
    queue = excluded.queue, declared_at = excluded.declared_at
