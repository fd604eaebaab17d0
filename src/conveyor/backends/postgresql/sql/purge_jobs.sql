-- Delete up to `batch` ended records whose retention has passed.
DELETE FROM conveyor_jobs
WHERE id IN (
    SELECT id FROM conveyor_jobs
    WHERE expires_at <= %(now)s
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
)
