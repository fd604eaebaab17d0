-- Fold the count changes into the kept counts (migration 0005), in one
-- transaction, so a reader sees the same sums before and after. One folder at
-- a time per schema (a transaction-scoped advisory lock; another caller finds
-- it taken and leaves the work to the holder). Changes committed meanwhile are
-- not seen by the DELETE and stay for the next fold. The number of change rows
-- folded comes back.
WITH allowed AS (
    SELECT pg_try_advisory_xact_lock(hashtext('conveyor_counts/' || current_schema())) AS ok
), moved AS (
    DELETE FROM conveyor_count_changes
    WHERE (SELECT ok FROM allowed)
    RETURNING queue, state, delta
), folded AS (
    INSERT INTO conveyor_counts AS c (queue, state, n)
    SELECT queue, state, sum(delta) FROM moved
    GROUP BY queue, state
    ORDER BY queue, state
    ON CONFLICT (queue, state) DO UPDATE SET n = c.n + excluded.n
)
SELECT count(*) AS folded FROM moved
