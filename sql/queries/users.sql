-- name: load_users
-- Rows the batch touches, locked so a concurrent batch of another partition waits.
SELECT id, provider, directory_id, organization_id, idp_id, email, first_name, last_name,
       state, custom_attributes, created_at, updated_at, deleted_at
FROM dsync.users
WHERE id = ANY($1::text[])
ORDER BY id
FOR UPDATE;

-- name: save_users
-- Rows already merged by the worker; the write is unconditional.
INSERT INTO dsync.users AS u (
    id, provider, directory_id, organization_id, idp_id, email, first_name, last_name,
    state, custom_attributes, created_at, updated_at, deleted_at
)
SELECT * FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::text[], $9::text[], $10::jsonb[], $11::timestamptz[], $12::timestamptz[],
    $13::timestamptz[]
) AS t (
    id, provider, directory_id, organization_id, idp_id, email, first_name, last_name,
    state, custom_attributes, created_at, updated_at, deleted_at
)
ON CONFLICT (id) DO UPDATE SET
    organization_id   = EXCLUDED.organization_id,
    idp_id            = EXCLUDED.idp_id,
    email             = EXCLUDED.email,
    first_name        = EXCLUDED.first_name,
    last_name         = EXCLUDED.last_name,
    state             = EXCLUDED.state,
    custom_attributes = EXCLUDED.custom_attributes,
    created_at        = EXCLUDED.created_at,
    updated_at        = EXCLUDED.updated_at,
    deleted_at        = EXCLUDED.deleted_at
-- Never across directories: a row another partition claimed meanwhile is not returned.
WHERE u.provider = EXCLUDED.provider AND u.directory_id = EXCLUDED.directory_id
RETURNING 1;
