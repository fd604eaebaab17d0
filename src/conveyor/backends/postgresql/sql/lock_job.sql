-- One job's record, locked until the transaction ends.
SELECT * FROM conveyor_jobs WHERE id = %(id)s FOR UPDATE
