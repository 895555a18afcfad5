-- Sync-latency health: when each applied event was received and happened, and which
-- directories are over the latency budget (`dsync status`, `GET /diagnostics`).

-- Null on rows written before this migration, and occurred_at also when the provider
-- sent no event time the ingress could read.
ALTER TABLE dsync_internal.applied_events
    ADD COLUMN received_at timestamptz,
    ADD COLUMN occurred_at timestamptz;

-- `dsync status` reads the last five minutes of the inbox.
CREATE INDEX applied_events_applied_at_idx ON dsync_internal.applied_events (applied_at);

-- One row per directory that has ever breached the budget. degraded_since is set by the
-- first over-budget batch and cleared by the next batch whose events are all within it.
CREATE TABLE dsync_internal.directory_health (
    directory_id         text             PRIMARY KEY,
    provider             text,
    degraded_since       timestamptz,
    last_breach_event_id text,
    last_breach_seconds  double precision,
    updated_at           timestamptz      NOT NULL
);
