-- name: dlq_list
SELECT id, created_at, source, event_type, event_id, directory_id, topic, partition,
       "offset", reason, redrive_count, redriven_at
FROM dsync_internal.dead_letters
WHERE $1::text IS NULL OR directory_id = $1
ORDER BY id DESC
LIMIT $2;

-- name: dlq_show
SELECT id, created_at, source, event_type, event_id, directory_id, topic, partition,
       "offset", reason, redrive_count, redriven_at, headers, body
FROM dsync_internal.dead_letters
WHERE id = $1;

-- name: dlq_by_ids
SELECT id, event_id, directory_id, headers, body
FROM dsync_internal.dead_letters
WHERE id = ANY($1::bigint[]) AND ($2::text IS NULL OR directory_id = $2)
ORDER BY id;

-- name: dlq_not_redriven
-- Keyset pages (id > $2) of the letters never redriven, oldest first.
SELECT id, event_id, directory_id, headers, body
FROM dsync_internal.dead_letters
WHERE redriven_at IS NULL AND ($1::text IS NULL OR directory_id = $1) AND id > $2
ORDER BY id
LIMIT $3;

-- name: dlq_mark_redriven
UPDATE dsync_internal.dead_letters
SET redriven_at = now(), redrive_count = redrive_count + 1
WHERE id = ANY($1::bigint[]);
