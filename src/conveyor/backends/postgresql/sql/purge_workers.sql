-- Forget workers whose registration expired.
DELETE FROM conveyor_workers WHERE expires_at <= %(now)s
