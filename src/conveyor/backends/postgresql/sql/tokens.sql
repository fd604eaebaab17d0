SELECT * FROM conveyor_tokens WHERE site_id = %(site_id)s ORDER BY name
