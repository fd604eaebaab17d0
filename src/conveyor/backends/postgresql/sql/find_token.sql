SELECT * FROM conveyor_tokens WHERE hash = %(hash)s
