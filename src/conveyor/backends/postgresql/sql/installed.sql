-- Where this connection's tables go, and whether conveyor's are there.
SELECT current_schema() AS schema,
       to_regclass('conveyor_schema_version') IS NOT NULL AS installed
