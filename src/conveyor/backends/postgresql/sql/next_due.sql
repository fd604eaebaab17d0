-- When the earliest scheduled job is due (NULL: none is): a waiting claim wakes then.
SELECT min(run_at) AS due FROM conveyor_jobs WHERE state = 'scheduled'
