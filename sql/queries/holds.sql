-- name: place_hold
-- Holds a partition, unless it is held already (the first reason stays). Returns a row only
-- when this call placed the hold, so the hold is logged once across workers.
INSERT INTO dsync_internal.partition_holds AS h
    (consumer_group, topic, partition, reason, stored_offset, log_start, log_end, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)
ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET
    reason = EXCLUDED.reason, stored_offset = EXCLUDED.stored_offset,
    log_start = EXCLUDED.log_start, log_end = EXCLUDED.log_end, detail = EXCLUDED.detail,
    held_at = now(), released_at = NULL, released_by = NULL
WHERE h.released_at IS NOT NULL
RETURNING partition;

-- name: stream_holds
-- Every hold row of one stream, released ones too (their release time tells the workers
-- to move to the stored offset; their cap waiver still counts).
SELECT partition, reason, stored_offset, log_start, log_end, detail, held_at, released_at,
       released_by, cap_waived_through
FROM dsync_internal.partition_holds
WHERE consumer_group = $1 AND topic = $2
ORDER BY partition;

-- name: release_hold
-- Releases the partition's hold; $5: the last offset whose dead letters skip the cap
-- (NULL keeps the waiver as it was). Returns the released hold.
UPDATE dsync_internal.partition_holds
SET released_at = now(), released_by = $4,
    cap_waived_through = coalesce($5, cap_waived_through)
WHERE consumer_group = $1 AND topic = $2 AND partition = $3 AND released_at IS NULL
RETURNING reason, stored_offset, log_start, log_end, detail;

-- name: dead_letters_in_ranges
-- Per partition of a batch: its fresh records and how many of them were dead-lettered
-- (in the caller's transaction, so the batch's own letters count), leaving out the records
-- an operator accepted (`cap_waived_through`). $3..$5: partition, first offset, next offset.
SELECT r.partition,
       r.high - greatest(r.low, coalesce(h.cap_waived_through + 1, r.low)) AS total,
       (SELECT count(*) FROM dsync_internal.dead_letters AS d
        WHERE d.topic = $2 AND d.partition = r.partition
          AND d."offset" >= greatest(r.low, coalesce(h.cap_waived_through + 1, r.low))
          AND d."offset" < r.high) AS dead
FROM unnest($3::integer[], $4::bigint[], $5::bigint[]) AS r (partition, low, high)
LEFT JOIN dsync_internal.partition_holds AS h
    ON h.consumer_group = $1 AND h.topic = $2 AND h.partition = r.partition;

-- name: mark_reset
-- `dsync offsets reset`, after releasing any hold: a release the workers act on even when
-- the partition was not held (reason stays NULL then).
INSERT INTO dsync_internal.partition_holds AS h
    (consumer_group, topic, partition, reason, stored_offset, released_at, released_by)
VALUES ($1, $2, $3, NULL, $4, now(), $5)
ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET
    released_at = now(), released_by = EXCLUDED.released_by;

-- name: set_offset
-- `dsync offsets reset`: the row locked first, so a batch of the partition in flight
-- commits before or after the reset, never across it. Returns the offset it replaced.
WITH old AS (
    SELECT next_offset FROM dsync_internal.consumer_offsets
    WHERE consumer_group = $1 AND topic = $2 AND partition = $3
    FOR UPDATE
), upsert AS (
    INSERT INTO dsync_internal.consumer_offsets (consumer_group, topic, partition, next_offset)
    VALUES ($1, $2, $3, $4)
    ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET
        next_offset = EXCLUDED.next_offset, updated_at = now()
)
SELECT (SELECT next_offset FROM old) AS previous;

-- name: audit_operation
-- Stream operations belong to no organization: they are chained in the audit log under the
-- reserved organization id 'dsync:operations' (`dsync audit verify` checks it like any).
SELECT dsync_internal.audit('dsync:operations', $1, NULL, $2::jsonb, $3::jsonb);

-- name: held_partitions
-- In the batch's transaction: which of its partitions are held (they are left out).
SELECT partition FROM dsync_internal.partition_holds
WHERE consumer_group = $1 AND topic = $2 AND partition = ANY ($3::integer[])
  AND released_at IS NULL;
