-- name: sync_access
-- Accounts, deprovisioning and roles for the directory rows a batch changed (same transaction).
SELECT dsync_internal.sync_access($1::text[], $2::text[], $3::text[], $4::jsonb);

-- name: disabled_directories
SELECT directory_id FROM dsync_internal.disabled_directories WHERE directory_id = ANY ($1::text[]);
