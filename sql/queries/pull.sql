-- name: pull_cursor
-- The stored cursor of one (provider, account), or no row.
SELECT cursor, last_event_at, updated_at
FROM dsync_internal.pull_cursors
WHERE provider = $1 AND account = $2;

-- name: advance_pull_cursor
-- Moves the cursor from $3 (NULL: none stored yet) to $4. Compare-and-set: returns no row
-- when the stored cursor is not $3, i.e. another puller moved it (the lock should make that
-- impossible; the check makes it loud instead of silent).
INSERT INTO dsync_internal.pull_cursors AS c (provider, account, cursor, last_event_at)
VALUES ($1, $2, $4, $5)
ON CONFLICT (provider, account) DO UPDATE SET
    cursor = EXCLUDED.cursor, last_event_at = EXCLUDED.last_event_at, updated_at = now()
WHERE c.cursor IS NOT DISTINCT FROM $3
RETURNING cursor;

-- name: refuse_pulled_event
INSERT INTO dsync_internal.pull_refusals (provider, account, event_id, reason, body)
VALUES ($1, $2, $3, $4, $5);

-- name: pull_lock
-- One active puller per (provider, account): a session-level advisory lock, released by
-- PostgreSQL when the holder's connection ends (a crash included).
SELECT pg_try_advisory_lock(hashtextextended('dsync.pull:' || $1 || ':' || $2, 0));

-- name: pull_cursors
-- Every stored cursor, for `dsync status`.
SELECT provider, account, cursor, last_event_at, updated_at
FROM dsync_internal.pull_cursors
ORDER BY provider, account;
