-- The SCIM server (`dsync scim`): bearer tokens per directory, the SCIM view of each
-- resource, and the worker's decision on each SCIM write.
--
-- The SCIM process never writes the directory tables: a write becomes an event, and the
-- worker decides it (uniqueness, versions, members) in the applying transaction, stores the
-- resource here beside the users/groups rows the commands write, records the outcome keyed
-- by event id and NOTIFYs `dsync_scim_outcome` with the event id, so the waiting SCIM
-- request answers from the committed state.

-- A SCIM directory, as `dsync scim connect` created it. Not a row of dsync.directories:
-- those are the worker's (rebuilt from the log by `dsync rebuild`); the worker creates the
-- directory's row there when its first user or group is applied.
CREATE TABLE dsync_internal.scim_directories (
    id              text        PRIMARY KEY,
    organization_id text        NOT NULL,
    name            text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz
);

-- Tokens are shown once and stored as sha256 (a 32-byte random token needs no slow hash).
-- A directory may hold several live tokens: `rotate` adds one, `revoke` retires them.
CREATE TABLE dsync_internal.scim_tokens (
    id           text        PRIMARY KEY,
    directory_id text        NOT NULL,
    token_sha256 bytea       NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
CREATE INDEX scim_tokens_directory_idx ON dsync_internal.scim_tokens (directory_id)
    WHERE revoked_at IS NULL;

-- One row per SCIM resource, its attributes as the client last set them (without id, meta,
-- members or password). `name` is the userName or the group's displayName, unique per
-- directory and kind ignoring case among live resources; the worker checks it first (409),
-- the index is the backstop. Group members live in dsync_internal.memberships only, so a
-- member change is one row, whatever the group's size.
CREATE TABLE dsync_internal.scim_resources (
    id           text        PRIMARY KEY,
    directory_id text        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('User', 'Group')),
    name         text        NOT NULL,
    external_id  text,
    version      bigint      NOT NULL,
    resource     jsonb       NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    deleted_at   timestamptz
);
CREATE UNIQUE INDEX scim_resources_name_idx
    ON dsync_internal.scim_resources (directory_id, kind, lower(name))
    WHERE deleted_at IS NULL;
CREATE INDEX scim_resources_external_id_idx
    ON dsync_internal.scim_resources (directory_id, kind, external_id)
    WHERE deleted_at IS NULL;
-- The list order (stable 1-based paging): creation, then id.
CREATE INDEX scim_resources_page_idx
    ON dsync_internal.scim_resources (directory_id, kind, created_at, id)
    WHERE deleted_at IS NULL;

-- The worker's decision on each SCIM write, keyed by event id: what the SCIM request
-- answers, and what a replay of the event decides again (the first decision is final).
CREATE TABLE dsync_internal.scim_outcomes (
    event_id     text        PRIMARY KEY,
    directory_id text        NOT NULL,
    status       integer     NOT NULL,
    resource_id  text,
    scim_type    text,
    detail       text,
    -- The time the write was applied at: its own, or just after the resource's last
    -- change when another SCIM process's clock ran ahead (the merge rules order by it).
    applied_at   timestamptz,
    decided_at   timestamptz NOT NULL DEFAULT now()
);
