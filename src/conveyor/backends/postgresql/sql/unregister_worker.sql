DELETE FROM conveyor_workers WHERE key = %(key)s
