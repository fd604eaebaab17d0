-- A started job becomes canceled and loses its lease: its worker notices at
-- the next heartbeat and stops it.
UPDATE conveyor_jobs
SET state = 'canceled',
    ended_at = %(now)s,
    expires_at = CASE WHEN failure_ttl >= 0 THEN %(now)s + failure_ttl ELSE NULL END,
    lease_token = NULL,
    lease_expires_at = NULL
WHERE id = %(id)s
