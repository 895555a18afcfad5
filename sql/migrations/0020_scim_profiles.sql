-- Per-directory SCIM provisioning profiles (`dsync scim profile set`): a custom User
-- extension and the rules writes must keep (schemas/scim_profile.py is the model).
-- The SCIM process checks a request's values against it; the worker reads it in the
-- applying transaction for what only committed state can decide (seat capacity, protected
-- owners), so two SCIM replicas and a replay decide the same way.
CREATE TABLE dsync_internal.scim_profiles (
    directory_id text        PRIMARY KEY REFERENCES dsync_internal.scim_directories (id),
    profile      jsonb       NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Seats are counted over a directory's live users; this keeps the count to one directory.
CREATE INDEX scim_resources_live_users_idx
    ON dsync_internal.scim_resources (directory_id)
    WHERE kind = 'User' AND deleted_at IS NULL;
