-- name: sync_access
-- Accounts, deprovisioning and roles for the directory rows a batch changed (same transaction):
-- users whose rows changed, users whose memberships changed, groups, deleted directories.
-- Deleted directories are (provider, id) pairs: $4 ids, $6 their providers.
SELECT dsync_internal.sync_batch_access($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb,
                                        $6::text[]);

-- name: sync_all_access
SELECT dsync_internal.sync_access(ARRAY(SELECT id FROM dsync.users), '{}', '{}', $1::jsonb);

-- name: disabled_directories
-- $1 providers, $2 directory ids (pairs).
SELECT x.provider, x.directory_id
FROM dsync_internal.disabled_directories AS x
JOIN unnest($1::text[], $2::text[]) AS k(provider, directory_id)
  ON x.provider = k.provider AND x.directory_id = k.directory_id;

-- name: put_group_mapping
SELECT dsync_internal.put_group_mapping($1, $2, $3, $4, $5, $6, $7::jsonb);

-- name: delete_group_mapping
SELECT dsync_internal.delete_group_mapping($1, $2::jsonb);

-- name: list_group_mappings
SELECT id, organization_id, group_id, group_name, scope_type, scope_id, role, created_at
FROM dsync.group_role_mappings WHERE organization_id = $1 ORDER BY id;

-- name: replace_role_rules
SELECT dsync_internal.replace_role_rules($1, $2::jsonb, $3::jsonb);

-- name: list_role_rules
SELECT position, source_attribute, match_value, role
FROM dsync.role_rules WHERE organization_id = $1 ORDER BY position;

-- name: assign_role
SELECT dsync_internal.assign_role($1, $2, $3, $4, $5::jsonb);

-- name: unassign_role
SELECT dsync_internal.unassign_role($1, $2, $3, $4::jsonb);

-- name: update_organization_settings
SELECT dsync_internal.update_organization_settings($1, $2::jsonb, $3::jsonb);

-- name: decide_approval
SELECT dsync_internal.decide_approval($1, $2, $3, $4, $5, $6::jsonb);

-- name: list_approvals
SELECT p.account_id, a.organization_id, p.scope_type, p.scope_id, p.role, p.status,
       p.requested_at, p.decided_at, p.decided_by
FROM dsync.role_approvals AS p JOIN dsync.accounts AS a ON a.id = p.account_id
WHERE ($1::text IS NULL OR a.organization_id = $1) AND ($2::text IS NULL OR p.status = $2)
ORDER BY p.requested_at, p.account_id;

-- name: account_roles
SELECT a.id, a.organization_id, a.status, a.created_via, a.directory_user_id,
       coalesce((SELECT jsonb_agg(jsonb_build_object('scope_type', e.scope_type,
                                                     'scope_id', e.scope_id, 'role', e.role,
                                                     'sources', e.sources)
                                  ORDER BY e.scope_type, e.scope_id)
                 FROM dsync.effective_roles AS e WHERE e.account_id = a.id), '[]') AS roles
FROM dsync.accounts AS a WHERE a.id = $1;

-- name: deactivate_account
SELECT dsync_internal.deactivate_account($1, $2::jsonb);

-- name: jit_provision
SELECT account_id, status, created FROM dsync.jit_provision($1, $2);

-- name: disable_directory
SELECT dsync_internal.disable_directory($1, $2::jsonb, $3);

-- name: enable_directory
SELECT dsync_internal.enable_directory($1, $2::jsonb, $3);

-- name: audit_chain
-- Every row of one organization's chain with the digest recomputed from its contents.
SELECT a.seq, a.prev_hash, a.hash, dsync_internal.audit_digest(a) AS digest
FROM dsync.audit_log AS a WHERE a.organization_id = $1 ORDER BY a.seq;

-- name: audit_organizations
SELECT DISTINCT organization_id FROM dsync.audit_log ORDER BY 1;

-- name: put_revocation_hook
INSERT INTO dsync_internal.revocation_hooks (name, statement) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET statement = excluded.statement, created_at = now();

-- name: delete_revocation_hook
DELETE FROM dsync_internal.revocation_hooks WHERE name = $1;

-- name: list_revocation_hooks
SELECT name, statement, created_at FROM dsync_internal.revocation_hooks ORDER BY name;
