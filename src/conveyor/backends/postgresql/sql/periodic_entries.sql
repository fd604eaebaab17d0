-- The periodic-job entries whose name starts with a prefix.
SELECT * FROM conveyor_periodic
WHERE left(name, length(%(prefix)s)) = %(prefix)s
ORDER BY name
