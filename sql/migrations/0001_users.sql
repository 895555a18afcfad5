-- Public read contract (schema dsync) and worker bookkeeping (schema dsync_internal).
CREATE SCHEMA IF NOT EXISTS dsync;
CREATE SCHEMA IF NOT EXISTS dsync_internal;

CREATE TABLE dsync.users (
    id                text        PRIMARY KEY,
    provider          text        NOT NULL,
    directory_id      text        NOT NULL,
    organization_id   text,
    idp_id            text        NOT NULL,
    email             text,
    first_name        text,
    last_name         text,
    state             text        NOT NULL,
    custom_attributes jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    deleted_at        timestamptz
);
CREATE INDEX users_directory_id_idx ON dsync.users (directory_id);
CREATE INDEX users_organization_email_idx ON dsync.users (organization_id, lower(email));

COMMENT ON TABLE dsync.users IS
    'Directory users as the identity provider last described them; deleted users stay as tombstones (deleted_at set).';

-- Event-id inbox: one row per provider event the worker has applied or ignored.
CREATE TABLE dsync_internal.applied_events (
    source       text        NOT NULL,
    event_id     text        NOT NULL,
    event_type   text        NOT NULL,
    directory_id text,
    outcome      text        NOT NULL,
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, event_id)
);

-- The database, not Kafka, is the truth of what has been consumed.
CREATE TABLE dsync_internal.consumer_offsets (
    consumer_group text        NOT NULL,
    topic          text        NOT NULL,
    partition      integer     NOT NULL,
    next_offset    bigint      NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);

-- Events that verified but could not be applied, with the reason. Bodies hold personal
-- data, which is why this lives outside the public schema.
CREATE TABLE dsync_internal.dead_letters (
    id           bigserial   PRIMARY KEY,
    source       text,
    event_id     text,
    event_type   text,
    directory_id text,
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    reason       text        NOT NULL,
    headers      jsonb       NOT NULL,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, partition, "offset")
);
