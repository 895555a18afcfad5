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
-- applied_at is the statement's clock, not the transaction's start: it comes after the
-- batch's writes, so applied_at - received_at is the event's sync latency (`dsync status`).
INSERT INTO dsync_internal.applied_events
    (source, event_id, event_type, directory_id, outcome, topic, partition, "offset",
     received_at, occurred_at, applied_at)
SELECT t.*, clock_timestamp()
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::integer[], $8::bigint[], $9::timestamptz[], $10::timestamptz[])
    AS t (source, event_id, event_type, directory_id, outcome, topic, partition, "offset",
          received_at, occurred_at)
-- An event once ignored (a type this version did not handle) is applied by a later version.
ON CONFLICT (source, event_id) DO UPDATE SET
    outcome = EXCLUDED.outcome, topic = EXCLUDED.topic, partition = EXCLUDED.partition,
    "offset" = EXCLUDED."offset", received_at = EXCLUDED.received_at,
    occurred_at = EXCLUDED.occurred_at, applied_at = EXCLUDED.applied_at
WHERE dsync_internal.applied_events.outcome = 'ignored';

-- name: record_health
-- One statement per batch. $1..$5: per directory (id and provider: two providers may use
-- one id, and each is judged apart) of the batch, whether an applied event
-- was over the latency budget, and the worst one. Over budget: degraded (since the first
-- such batch). All within it: healthy again (rows are only written when that changes
-- something, so the common case writes nothing). Returns how many directories are
-- degraded now: the main query sees the table as it was before this statement, so it
-- counts the other directories there and this batch's from `degraded`.
WITH verdict AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::text[], $5::float8[])
        AS v (directory_id, provider, breached, event_id, seconds)
), degraded AS (
    INSERT INTO dsync_internal.directory_health AS h
        (directory_id, provider, degraded_since, last_breach_event_id, last_breach_seconds,
         updated_at)
    SELECT directory_id, provider, clock_timestamp(), event_id, seconds, clock_timestamp()
    FROM verdict WHERE breached
    ON CONFLICT (directory_id, provider) DO UPDATE SET
        degraded_since = coalesce(h.degraded_since, EXCLUDED.degraded_since),
        last_breach_event_id = EXCLUDED.last_breach_event_id,
        last_breach_seconds = EXCLUDED.last_breach_seconds,
        updated_at = EXCLUDED.updated_at
    RETURNING h.directory_id
), recovered AS (
    UPDATE dsync_internal.directory_health AS h
    SET degraded_since = NULL, updated_at = clock_timestamp()
    FROM verdict AS v
    WHERE h.directory_id = v.directory_id AND h.provider = v.provider AND NOT v.breached
      AND h.degraded_since IS NOT NULL
)
SELECT (SELECT count(*) FROM degraded)
     + (SELECT count(*) FROM dsync_internal.directory_health AS h
        WHERE h.degraded_since IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM verdict AS v
                          WHERE v.directory_id = h.directory_id AND v.provider = h.provider))
       AS degraded_directories;

-- name: dead_letter
-- The row and its message for the dead-letter topic (relayed from the outbox after commit):
-- the original value and headers plus the reason, the row's id and where it was read. A
-- record dead-lettered before (a replay) gets neither again.
WITH letter AS (
    INSERT INTO dsync_internal.dead_letters
        (source, event_id, event_type, directory_id, topic, partition, "offset", reason,
         headers, body)
    SELECT * FROM (VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::integer,
                           $7::bigint, $8::text, $9::jsonb, $10::bytea))
        AS t (source, event_id, event_type, directory_id, topic, partition, "offset", reason,
              headers, body)
    ON CONFLICT (topic, partition, "offset") DO NOTHING
    RETURNING id, event_id, directory_id, topic, partition, "offset", reason, headers, body
)
INSERT INTO dsync_internal.outbox (stream, key, headers, value)
SELECT 'dead_letters',
       coalesce(directory_id, event_id),
       headers || jsonb_build_object(
           'dsync-dead-letter-id', id::text,
           'dsync-dead-letter-reason', reason,
           'dsync-dead-letter-topic', topic,
           'dsync-dead-letter-partition', partition::text,
           'dsync-dead-letter-offset', "offset"::text),
       coalesce(body, ''::bytea)
FROM letter;
