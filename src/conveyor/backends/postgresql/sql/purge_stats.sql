-- Drop the per-minute statistics (migration 0005) older than the retention.
DELETE FROM conveyor_stats WHERE minute < %(before)s
