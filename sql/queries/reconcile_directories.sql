-- name: reconcile_stored_directory
-- The directory row of a (provider, directory), to compare with the provider's listing of
-- directories (reconcile/directories.py). No lock: the worker decides, not this read.
SELECT id, provider, organization_id, name, type, state, created_at, updated_at, deleted_at
FROM dsync.directories
WHERE provider = $1 AND id = $2;
