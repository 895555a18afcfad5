-- Deletions that name only an object dsync has not seen yet (a Stytch member delete
-- carries no member): applied when the object arrives, so delivery order does not matter.
CREATE TABLE dsync_internal.pending_deletions (
    kind       text        NOT NULL,
    id         text        NOT NULL,
    provider   text        NOT NULL,
    deleted_at timestamptz NOT NULL,
    PRIMARY KEY (kind, id)
);
