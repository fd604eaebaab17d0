-- Which of these job ids are stored (to name the one an enqueue collided with).
SELECT id FROM conveyor_jobs WHERE id = ANY(%(ids)s::text[])
