-- name: load_directories
-- By (provider, id): two providers may use the same directory id, each with its own row.
SELECT d.id, d.provider, d.organization_id, d.name, d.type, d.state, d.created_at,
       d.updated_at, d.deleted_at
FROM dsync.directories AS d
JOIN unnest($1::text[], $2::text[]) AS k(provider, id) ON d.id = k.id AND d.provider = k.provider
ORDER BY d.id, d.provider
FOR UPDATE OF d;

-- name: save_directories
INSERT INTO dsync.directories AS d (
    id, provider, organization_id, name, type, state, created_at, updated_at, deleted_at
)
SELECT * FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::timestamptz[], $8::timestamptz[], $9::timestamptz[]
) AS t (id, provider, organization_id, name, type, state, created_at, updated_at, deleted_at)
ON CONFLICT (id, provider) DO UPDATE SET
    organization_id = EXCLUDED.organization_id,
    name            = EXCLUDED.name,
    type            = EXCLUDED.type,
    state           = EXCLUDED.state,
    created_at      = EXCLUDED.created_at,
    updated_at      = EXCLUDED.updated_at,
    deleted_at      = EXCLUDED.deleted_at
RETURNING 1;

-- name: load_groups
SELECT id, provider, directory_id, organization_id, idp_id, name, created_at, updated_at, deleted_at
FROM dsync.groups
WHERE id = ANY($1::text[])
ORDER BY id
FOR UPDATE;

-- name: save_groups
INSERT INTO dsync.groups AS g (
    id, provider, directory_id, organization_id, idp_id, name, created_at, updated_at, deleted_at
)
SELECT * FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::timestamptz[], $8::timestamptz[], $9::timestamptz[]
) AS t (id, provider, directory_id, organization_id, idp_id, name, created_at, updated_at,
        deleted_at)
ON CONFLICT (id) DO UPDATE SET
    organization_id = EXCLUDED.organization_id,
    idp_id          = EXCLUDED.idp_id,
    name            = EXCLUDED.name,
    created_at      = EXCLUDED.created_at,
    updated_at      = EXCLUDED.updated_at,
    deleted_at      = EXCLUDED.deleted_at
-- Never across directories: a row another partition claimed meanwhile is not returned.
WHERE g.provider = EXCLUDED.provider AND g.directory_id = EXCLUDED.directory_id
RETURNING 1;

-- name: load_memberships
SELECT m.provider, m.directory_id, m.group_id, m.user_id, m.present, m.event_at
FROM dsync_internal.memberships AS m
JOIN unnest($1::text[], $2::text[]) AS k(group_id, user_id)
  ON m.group_id = k.group_id AND m.user_id = k.user_id
ORDER BY m.group_id, m.user_id
FOR UPDATE OF m;

-- name: save_memberships
INSERT INTO dsync_internal.memberships AS m
    (provider, directory_id, group_id, user_id, present, event_at)
SELECT * FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[], $6::timestamptz[]
) AS t (provider, directory_id, group_id, user_id, present, event_at)
ON CONFLICT (group_id, user_id) DO UPDATE SET
    present  = EXCLUDED.present,
    event_at = EXCLUDED.event_at
-- Never across directories: a row another partition claimed meanwhile is not returned.
WHERE m.provider = EXCLUDED.provider AND m.directory_id = EXCLUDED.directory_id
RETURNING 1;

-- name: cascade_directory_deletion
-- A deleted directory takes every user and group in it along. $4: the provider reactivates
-- ids (Stytch), so the latest deletion counts and only over older payloads; otherwise the
-- earliest deletion is final. Rows arriving later get it when merged.
WITH users AS (
    UPDATE dsync.users
    SET deleted_at = $3
    WHERE directory_id = $1 AND provider = $2
      AND CASE WHEN $4 THEN (deleted_at IS NULL OR deleted_at < $3) AND updated_at <= $3
               ELSE deleted_at IS NULL OR deleted_at > $3 END
    RETURNING 1
)
UPDATE dsync.groups
SET deleted_at = $3
WHERE directory_id = $1 AND provider = $2
  AND CASE WHEN $4 THEN (deleted_at IS NULL OR deleted_at < $3) AND updated_at <= $3
           ELSE deleted_at IS NULL OR deleted_at > $3 END;

-- name: clear_directory_tables
-- For `dsync rebuild`, inside its transaction (readers keep seeing the old rows until it
-- commits). The event inbox, offsets and dead letters are kept.
DELETE FROM dsync_internal.memberships;
DELETE FROM dsync.users;
DELETE FROM dsync.groups;
DELETE FROM dsync.directories;

-- name: load_pending_deletions
SELECT p.kind, p.id, p.provider, p.deleted_at
FROM dsync_internal.pending_deletions AS p
JOIN unnest($1::text[], $2::text[]) AS k(kind, id) ON p.kind = k.kind AND p.id = k.id
ORDER BY p.kind, p.id
FOR UPDATE OF p;

-- name: save_pending_deletions
INSERT INTO dsync_internal.pending_deletions AS p (kind, id, provider, deleted_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
    AS t (kind, id, provider, deleted_at)
ON CONFLICT (kind, id) DO UPDATE SET deleted_at = LEAST(p.deleted_at, EXCLUDED.deleted_at);

-- name: lock_directories
-- Serialises batches (of any partition) that write into the same directory, so that a
-- directory's deletion and an object arriving for it never miss each other. Keys come
-- sorted and are taken before any row lock, so batches never wait on each other in a cycle.
SELECT count(pg_advisory_xact_lock(hashtextextended('dsync.directory:' || k, 0)))
FROM unnest($1::text[]) AS k;
