-- Serialise schema set-up per schema name, until the transaction ends.
SELECT pg_advisory_xact_lock(hashtext('conveyor schema ' || %(schema)s))
