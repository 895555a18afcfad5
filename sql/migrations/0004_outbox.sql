-- Transactional outbox: messages written in the same transaction as the change that caused
-- them (dead letters, access changes) and relayed to Kafka after commit, in id order, by one
-- relay at a time. A row is deleted once the broker acknowledged it.
CREATE TABLE dsync_internal.outbox (
    id         bigserial   PRIMARY KEY,
    stream     text        NOT NULL CHECK (stream IN ('changes', 'dead_letters')),
    key        text,
    headers    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    value      bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
