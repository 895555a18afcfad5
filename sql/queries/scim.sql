-- name: scim_outcome
-- The decision already taken on a SCIM write (a replay decides the same way).
SELECT status, resource_id, scim_type, detail, applied_at
FROM dsync_internal.scim_outcomes
WHERE event_id = $1;

-- name: scim_stored
-- The resource a SCIM write targets, locked until the batch commits.
SELECT directory_id, kind, version, deleted_at IS NOT NULL AS deleted, updated_at
FROM dsync_internal.scim_resources
WHERE id = $1
FOR UPDATE;

-- name: scim_name_taken
-- Whether another live resource of the directory and kind holds the name, ignoring case.
SELECT EXISTS (
    SELECT 1 FROM dsync_internal.scim_resources
    WHERE directory_id = $1 AND kind = $2 AND lower(name) = lower($3)
      AND deleted_at IS NULL AND id <> $4
);

-- name: scim_unknown_users
-- How many of the ids are not live users of the directory.
SELECT count(*)
FROM unnest($2::text[]) AS wanted (id)
WHERE NOT EXISTS (
    SELECT 1 FROM dsync_internal.scim_resources AS r
    WHERE r.id = wanted.id AND r.directory_id = $1 AND r.kind = 'User'
      AND r.deleted_at IS NULL
);

-- name: scim_insert_resource
INSERT INTO dsync_internal.scim_resources
    (id, directory_id, kind, name, external_id, version, resource, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, 1, $6::jsonb, $7, $7);

-- name: scim_update_resource
-- A replace: the attributes when given (NULL: a group's member change), one version more.
UPDATE dsync_internal.scim_resources SET
    name        = coalesce($2, name),
    external_id = CASE WHEN $3::jsonb IS NULL THEN external_id ELSE $3::jsonb ->> 'externalId' END,
    resource    = coalesce($3::jsonb, resource),
    version     = version + 1,
    updated_at  = $4
WHERE id = $1;

-- name: scim_delete_resource
UPDATE dsync_internal.scim_resources SET
    version = version + 1, updated_at = $2, deleted_at = $2
WHERE id = $1;

-- name: scim_record_outcome
-- Recorded once; NOTIFY is delivered at commit, so the waiting request reads committed state.
WITH recorded AS (
    INSERT INTO dsync_internal.scim_outcomes
        (event_id, directory_id, status, resource_id, scim_type, detail, applied_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (event_id) DO NOTHING
)
SELECT pg_notify('dsync_scim_outcome', $1);
