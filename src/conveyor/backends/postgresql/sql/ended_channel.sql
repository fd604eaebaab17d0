-- The channel complete.sql notifies when a batch ended jobs (for wait_ended()).
SELECT 'conveyor_ended_' || md5(current_schema())
