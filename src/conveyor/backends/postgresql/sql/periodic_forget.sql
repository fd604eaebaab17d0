-- Delete one periodic-job entry.
DELETE FROM conveyor_periodic WHERE name = %(name)s RETURNING name
