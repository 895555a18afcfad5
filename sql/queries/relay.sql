-- name: outbox_take
-- The relay's lock, taken once and held until commit, and the oldest rows if it was granted.
-- Always at least one row: held is false when another relay holds the lock, and id is null
-- when the outbox is empty; so the relay knows whether it drained the outbox without
-- counting it (a count reads every dead row a busy outbox leaves until vacuum).
SELECT l.held, o.id, o.stream, o.key, o.headers, o.value
FROM (SELECT pg_try_advisory_xact_lock($1) AS held) AS l
LEFT JOIN LATERAL (
    SELECT id, stream, key, headers, value FROM dsync_internal.outbox
    WHERE l.held
    ORDER BY id
    LIMIT $2
) AS o ON true
ORDER BY o.id;

-- name: outbox_delete
DELETE FROM dsync_internal.outbox WHERE id = ANY($1::bigint[]);

-- name: outbox_pending
SELECT count(*) FROM dsync_internal.outbox;
