-- name: outbox_take
-- The relay's lock is taken once (an uncorrelated subquery) and held until commit. No rows:
-- the outbox is empty, or another relay holds the lock; one query either way.
SELECT id, stream, key, headers, value FROM dsync_internal.outbox
WHERE (SELECT pg_try_advisory_xact_lock($1))
ORDER BY id
LIMIT $2;

-- name: outbox_delete
DELETE FROM dsync_internal.outbox WHERE id = ANY($1::bigint[]);

-- name: outbox_pending
SELECT count(*) FROM dsync_internal.outbox;
