-- Partitions that must not go on until an operator decides (docs/operations.md, "When
-- something goes wrong"). A worker holds a partition when the offset stored for it does not
-- match the partition it reads (the topic was deleted or recreated, retention removed
-- records never applied, records are missing) or when a batch of it would dead-letter more
-- than DSYNC_DEAD_LETTER_MAX_SHARE. Every worker of the group pauses a held partition and
-- keeps the rest going; `dsync offsets reset` or `dsync offsets resume` releases it.
-- One row per partition: a new hold replaces a released one. `dsync offsets reset` sets
-- released_at even when nothing was held (reason NULL then): a worker reading the partition
-- sees a newer release and moves to the offset stored now.
CREATE TABLE dsync_internal.partition_holds (
    consumer_group     text        NOT NULL,
    topic              text        NOT NULL,
    partition          integer     NOT NULL,
    reason             text        CHECK (reason IN (
        'offset_beyond_end', 'offset_before_start', 'partition_missing', 'offset_gap',
        'dead_letter_cap')),
    stored_offset      bigint      NOT NULL,  -- the next offset to apply, when held
    log_start          bigint,                -- the partition as the worker saw it (NULL:
    log_end            bigint,                -- unknown, or the partition is missing)
    detail             jsonb       NOT NULL DEFAULT '{}'::jsonb,
    held_at            timestamptz NOT NULL DEFAULT now(),
    released_at        timestamptz,
    released_by        text,
    -- After `dsync offsets resume`: records up to this offset are dead-lettered as they
    -- are, without the dead-letter cap (the batch the operator accepted).
    cap_waived_through bigint,
    PRIMARY KEY (consumer_group, topic, partition)
);
