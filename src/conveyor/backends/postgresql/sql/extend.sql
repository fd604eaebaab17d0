-- Push back the expiry of leases still held; the ids of those that were.
UPDATE conveyor_jobs AS j
SET lease_expires_at = %(lease_expires_at)s
FROM unnest(%(ids)s::text[], %(tokens)s::text[]) AS l (id, token)
WHERE j.id = l.id AND j.lease_token = l.token AND j.state = 'started'
RETURNING j.id
