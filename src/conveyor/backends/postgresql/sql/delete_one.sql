-- One job's record, whatever its state (RQ's Job.delete()); the record as it was.
DELETE FROM conveyor_jobs WHERE id = %(id)s RETURNING *
