-- Delete records outright (an ended job whose TTL keeps no record).
DELETE FROM conveyor_jobs WHERE id = ANY(%(ids)s::text[])
