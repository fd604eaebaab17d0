-- Store a web API token (its hash); nothing comes back if the site has one
-- of that name, or the hash exists already.
INSERT INTO conveyor_tokens (site_id, name, hash, read_only, created_at)
VALUES (%(site_id)s, %(name)s, %(hash)s, %(read_only)s, %(created_at)s)
ON CONFLICT DO NOTHING
RETURNING name
