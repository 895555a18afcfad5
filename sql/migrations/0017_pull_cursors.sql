-- Pull sources (`dsync pull workos`): where each puller stands in its provider's event
-- stream, and the events it pulled but could not route.
--
-- A cursor is scoped by (provider, account): an account names one API key's environment
-- (WorkOS staging and production are two accounts with two streams of event ids), so two
-- environments pulled into one database never share or overwrite a cursor. The cursor is
-- the id of the last event the broker acknowledged, never an id learned elsewhere (a
-- webhook's id may be ahead of events the Events API does not show yet).
CREATE TABLE dsync_internal.pull_cursors (
    provider text NOT NULL,
    account text NOT NULL,
    cursor text NOT NULL,
    -- The provider's time of the cursor's event: "now minus this" is how far behind the
    -- puller is (dsync status, the cursor-lag metric).
    last_event_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, account)
);

-- What the ingress answers 400 for (no usable id, type or directory), the puller cannot
-- produce either; it keeps the event here, in the transaction that moves the cursor past
-- it, so nothing is skipped silently. `event_id` is NULL when the event had no usable one.
CREATE TABLE dsync_internal.pull_refusals (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider text NOT NULL,
    account text NOT NULL,
    event_id text,
    reason text NOT NULL,
    body bytea NOT NULL,
    refused_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pull_refusals_by_account ON dsync_internal.pull_refusals (provider, account, id);
