-- name: scim_directory_tokens
-- The live token hashes of a live SCIM directory, and its organization.
SELECT t.token_sha256, d.organization_id
FROM dsync_internal.scim_tokens AS t
JOIN dsync_internal.scim_directories AS d ON d.id = t.directory_id
WHERE t.directory_id = $1 AND t.revoked_at IS NULL AND d.deleted_at IS NULL;

-- name: scim_resource
-- One live resource of the directory.
SELECT id, resource, version, created_at, updated_at
FROM dsync_internal.scim_resources
WHERE id = $1 AND directory_id = $2 AND kind = $3 AND deleted_at IS NULL;

-- name: scim_group_members
-- The group's current members that are live users (what the client reads back).
SELECT m.user_id, r.name
FROM dsync_internal.memberships AS m
JOIN dsync_internal.scim_resources AS r
  ON r.id = m.user_id AND r.kind = 'User' AND r.deleted_at IS NULL
WHERE m.group_id = $1 AND m.directory_id = $2 AND m.present
ORDER BY m.user_id;

-- name: scim_create_directory
INSERT INTO dsync_internal.scim_directories (id, organization_id, name)
VALUES ($1, $2, $3);

-- name: scim_add_token
-- Only for a live SCIM directory; returns nothing otherwise.
INSERT INTO dsync_internal.scim_tokens (id, directory_id, token_sha256)
SELECT $1, d.id, $3
FROM dsync_internal.scim_directories AS d
WHERE d.id = $2 AND d.deleted_at IS NULL
RETURNING id;

-- name: scim_revoke_tokens
-- Revokes one token ($2) or, when $2 is NULL, every live token but the newest.
UPDATE dsync_internal.scim_tokens SET revoked_at = now()
WHERE directory_id = $1 AND revoked_at IS NULL
  AND CASE WHEN $2::text IS NULL
      THEN id <> (SELECT id FROM dsync_internal.scim_tokens
                  WHERE directory_id = $1 AND revoked_at IS NULL
                  ORDER BY created_at DESC, id DESC LIMIT 1)
      ELSE id = $2 END
RETURNING id;
