-- Whether this connection's schema has the periodic-jobs table.
SELECT to_regclass('conveyor_periodic') IS NOT NULL AS present
