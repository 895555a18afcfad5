-- name: scim_set_profile
-- Store (or replace) a SCIM directory's profile; NULL when there is no such directory.
INSERT INTO dsync_internal.scim_profiles (directory_id, profile)
SELECT d.id, $2::jsonb FROM dsync_internal.scim_directories AS d
WHERE d.id = $1 AND d.deleted_at IS NULL
ON CONFLICT (directory_id) DO UPDATE SET profile = excluded.profile, updated_at = now()
RETURNING directory_id;

-- name: scim_profile
-- One directory's profile (the SCIM process, per request).
SELECT profile FROM dsync_internal.scim_profiles WHERE directory_id = $1;

-- name: scim_profiles_of
-- The profiles of a batch's SCIM directories (the worker, in the applying transaction).
SELECT directory_id, profile FROM dsync_internal.scim_profiles
WHERE directory_id = ANY($1::text[]);

-- name: scim_seats_taken
-- Seats held per value of the seat attribute: live, active users of the directory.
SELECT r.resource -> $2::text ->> $3::text AS seat, count(*) AS taken
FROM dsync_internal.scim_resources AS r
WHERE r.directory_id = $1 AND r.kind = 'User' AND r.deleted_at IS NULL
  AND (r.resource ->> 'active') IS DISTINCT FROM 'false'
  AND r.resource -> $2::text ->> $3::text IS NOT NULL
GROUP BY 1;

-- name: scim_protected_users
-- The SCIM users whose account holds one of the given organization roles in dsync.
SELECT DISTINCT a.directory_user_id AS id
FROM dsync.accounts AS a
JOIN dsync.role_assignments AS r
  ON r.account_id = a.id AND r.scope_type = 'organization' AND r.role = ANY($2::text[])
WHERE a.directory_user_id = ANY($1::text[]);
