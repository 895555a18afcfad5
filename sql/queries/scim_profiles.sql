-- name: scim_set_profile
-- Store (or replace) a SCIM directory's profile, forgetting its seat counts (recounted
-- under the new profile); NULL when there is no such directory.
WITH forgotten AS (
    DELETE FROM dsync_internal.scim_seat_counts WHERE directory_id = $1
)
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

-- name: scim_seat_counts
-- The kept seat counts of a directory's seat attribute ('' marks a counted key).
SELECT seat, taken FROM dsync_internal.scim_seat_counts
WHERE directory_id = $1 AND extension = $2 AND attribute = $3;

-- name: scim_save_seat_counts
-- Keep a batch's seat counts (absolute, as of its commit under the directory lock).
INSERT INTO dsync_internal.scim_seat_counts (directory_id, extension, attribute, seat, taken)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::integer[])
    AS t (directory_id, extension, attribute, seat, taken)
ON CONFLICT (directory_id, extension, attribute, seat) DO UPDATE SET taken = excluded.taken;

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
