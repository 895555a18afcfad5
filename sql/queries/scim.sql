-- name: scim_outcome
-- The decision taken on a SCIM write (what the waiting SCIM request answers).
SELECT status, resource_id, scim_type, detail, applied_at
FROM dsync_internal.scim_outcomes
WHERE event_id = $1;

-- name: scim_outcomes_of
-- Decisions already taken on a batch's SCIM writes (a replay decides the same way).
SELECT event_id, status, scim_type, detail, applied_at
FROM dsync_internal.scim_outcomes
WHERE event_id = ANY($1::text[]);

-- name: scim_resources_of
-- The resources a batch's SCIM writes target, locked until the batch commits.
SELECT id, directory_id, kind, name, external_id, version, resource, created_at, updated_at,
       deleted_at
FROM dsync_internal.scim_resources
WHERE id = ANY($1::text[])
ORDER BY id
FOR UPDATE;

-- name: scim_name_holders
-- The live resources holding the names a batch sets, ignoring case.
SELECT r.id, r.directory_id, r.kind, r.name, r.external_id, r.version, r.resource,
       r.created_at, r.updated_at, r.deleted_at
FROM dsync_internal.scim_resources AS r
JOIN unnest($1::text[], $2::text[], $3::text[]) AS k (directory_id, kind, name)
  ON r.directory_id = k.directory_id AND r.kind = k.kind AND lower(r.name) = k.name
WHERE r.deleted_at IS NULL;

-- name: scim_live_users
-- Which of the ids are live users, and of which directory.
SELECT directory_id, id
FROM dsync_internal.scim_resources
WHERE id = ANY($1::text[]) AND kind = 'User' AND deleted_at IS NULL;

-- name: scim_save_resources
-- The batch's final state of each resource it changed.
INSERT INTO dsync_internal.scim_resources AS r (
    id, directory_id, kind, name, external_id, version, resource, created_at, updated_at,
    deleted_at
)
SELECT * FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::jsonb[],
    $8::timestamptz[], $9::timestamptz[], $10::timestamptz[]
) AS t (
    id, directory_id, kind, name, external_id, version, resource, created_at, updated_at,
    deleted_at
)
ON CONFLICT (id) DO UPDATE SET
    name        = EXCLUDED.name,
    external_id = EXCLUDED.external_id,
    version     = EXCLUDED.version,
    resource    = EXCLUDED.resource,
    updated_at  = EXCLUDED.updated_at,
    deleted_at  = EXCLUDED.deleted_at;

-- name: scim_record_outcomes
-- Recorded once; NOTIFY is delivered at commit, so the waiting request reads committed state.
-- A replay's decisions are recorded already: nobody waits on them, so nothing is notified.
WITH recorded AS (
    INSERT INTO dsync_internal.scim_outcomes
        (event_id, directory_id, status, resource_id, scim_type, detail, applied_at)
    SELECT * FROM unnest(
        $1::text[], $2::text[], $3::integer[], $4::text[], $5::text[], $6::text[],
        $7::timestamptz[]
    ) AS t (event_id, directory_id, status, resource_id, scim_type, detail, applied_at)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
)
SELECT count(pg_notify('dsync_scim_outcome', event_id)) FROM recorded;
