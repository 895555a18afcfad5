-- Directories, groups and memberships beside users, plus the read-only role.

CREATE TABLE dsync.directories (
    id              text        PRIMARY KEY,
    provider        text        NOT NULL,
    organization_id text,
    name            text,
    type            text,
    state           text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    deleted_at      timestamptz
);
CREATE INDEX directories_organization_id_idx ON dsync.directories (organization_id);

CREATE TABLE dsync.groups (
    id              text        PRIMARY KEY,
    provider        text        NOT NULL,
    directory_id    text        NOT NULL,
    organization_id text,
    idp_id          text        NOT NULL,
    name            text        NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    deleted_at      timestamptz
);
CREATE INDEX groups_directory_id_idx ON dsync.groups (directory_id);

-- Last-writer-wins register per (group, user): the newest add or remove by event time.
CREATE TABLE dsync_internal.memberships (
    directory_id text        NOT NULL,
    group_id     text        NOT NULL,
    user_id      text        NOT NULL,
    present      boolean     NOT NULL,
    event_at     timestamptz NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX memberships_user_id_idx ON dsync_internal.memberships (user_id);
CREATE INDEX memberships_directory_id_idx ON dsync_internal.memberships (directory_id);

-- Current memberships only: added last, and neither the group nor the user is deleted.
CREATE VIEW dsync.group_memberships AS
SELECT m.directory_id, m.group_id, m.user_id, m.event_at AS created_at
FROM dsync_internal.memberships AS m
JOIN dsync.groups AS g ON g.id = m.group_id AND g.deleted_at IS NULL
JOIN dsync.users AS u ON u.id = m.user_id AND u.deleted_at IS NULL
WHERE m.present;

COMMENT ON VIEW dsync.group_memberships IS
    'Current group memberships: the last membership event for the pair was an add, and neither the group nor the user is deleted.';

-- Downstream services read the dsync schema through this role (NOLOGIN: grant it to a
-- login role of your own). Roles are cluster-wide, so creating it must tolerate a race.
DO $$
BEGIN
    CREATE ROLE dsync_reader NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
GRANT USAGE ON SCHEMA dsync TO dsync_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA dsync TO dsync_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA dsync GRANT SELECT ON TABLES TO dsync_reader;
