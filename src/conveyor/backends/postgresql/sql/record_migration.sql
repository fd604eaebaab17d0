-- A migration was applied (0001 records itself; recording it again changes nothing).
INSERT INTO conveyor_schema_version (version) VALUES (%(version)s)
ON CONFLICT (version) DO NOTHING
