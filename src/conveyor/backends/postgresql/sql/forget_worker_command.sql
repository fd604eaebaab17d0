-- Drop a stopped worker's command (migration 0004).
DELETE FROM conveyor_worker_commands WHERE key = %(key)s RETURNING key
