-- name: lock_offset
-- Serialises every consumer of one partition: whoever holds this row applies the batch.
SELECT next_offset FROM dsync_internal.consumer_offsets
WHERE consumer_group = $1 AND topic = $2 AND partition = $3
FOR UPDATE;

-- name: insert_offset
INSERT INTO dsync_internal.consumer_offsets (consumer_group, topic, partition, next_offset)
VALUES ($1, $2, $3, -1)
ON CONFLICT DO NOTHING;

-- name: store_offset
UPDATE dsync_internal.consumer_offsets
SET next_offset = $4, updated_at = now()
WHERE consumer_group = $1 AND topic = $2 AND partition = $3;

-- name: stored_offsets
SELECT partition, next_offset FROM dsync_internal.consumer_offsets
WHERE consumer_group = $1 AND topic = $2 AND next_offset >= 0;

-- name: seen_events
SELECT event_id FROM dsync_internal.applied_events
WHERE source = $1 AND event_id = ANY($2::text[]) AND outcome <> 'ignored';

-- name: record_events
INSERT INTO dsync_internal.applied_events
    (source, event_id, event_type, directory_id, outcome, topic, partition, "offset")
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::integer[], $8::bigint[])
-- An event once ignored (a type this version did not handle) is applied by a later version.
ON CONFLICT (source, event_id) DO UPDATE SET
    outcome = EXCLUDED.outcome, topic = EXCLUDED.topic, partition = EXCLUDED.partition,
    "offset" = EXCLUDED."offset", applied_at = now()
WHERE dsync_internal.applied_events.outcome = 'ignored';

-- name: dead_letter
INSERT INTO dsync_internal.dead_letters
    (source, event_id, event_type, directory_id, topic, partition, "offset", reason, headers, body)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10)
ON CONFLICT (topic, partition, "offset") DO NOTHING;
