-- Migration 0002: the options a job carries for the worker alone (NewJob.options),
-- as a JSON object; NULL when it has none, so a job without options costs nothing.
ALTER TABLE conveyor_jobs ADD COLUMN options TEXT;
