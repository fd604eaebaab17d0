DELETE FROM conveyor_tokens WHERE site_id = %(site_id)s AND name = %(name)s RETURNING name
