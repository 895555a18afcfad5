-- Administration (called by `dsync roles|accounts ...`; p_cause names the
-- command and its actor). Each re-evaluates only the accounts the change can touch.

CREATE OR REPLACE FUNCTION dsync_internal.check_role(
    p_organization_id text, p_scope_type text, p_role text
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dsync_internal.ensure_organization(p_organization_id);
    IF dsync_internal.role_rank(
        (SELECT role_ranks FROM dsync.organization_settings
         WHERE organization_id = p_organization_id), p_scope_type, p_role) IS NULL THEN
        RAISE EXCEPTION 'unknown role % for scope %', p_role, p_scope_type
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION dsync_internal.put_group_mapping(
    p_organization_id text, p_group_id text, p_group_name text,
    p_scope_type text, p_scope_id text, p_role text, p_cause jsonb
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
    v_old text;
    v_groups text[];
BEGIN
    PERFORM dsync_internal.lock_organization(p_organization_id);
    PERFORM dsync_internal.check_role(p_organization_id, p_scope_type, p_role);
    SELECT id, role INTO v_id, v_old FROM dsync.group_role_mappings
    WHERE organization_id = p_organization_id AND group_id IS NOT DISTINCT FROM p_group_id
      AND group_name IS NOT DISTINCT FROM p_group_name AND scope_type = p_scope_type
      AND scope_id = p_scope_id;
    IF v_id IS NULL THEN
        INSERT INTO dsync.group_role_mappings
            (organization_id, group_id, group_name, scope_type, scope_id, role)
        VALUES (p_organization_id, p_group_id, p_group_name, p_scope_type, p_scope_id, p_role)
        RETURNING id INTO v_id;
    ELSE
        UPDATE dsync.group_role_mappings SET role = p_role WHERE id = v_id;
    END IF;
    PERFORM dsync_internal.audit(p_organization_id, 'mapping.changed', NULL,
        jsonb_build_object('mapping_id', v_id, 'group_id', p_group_id, 'group_name', p_group_name,
                           'scope_type', p_scope_type, 'scope_id', p_scope_id,
                           'old_role', v_old, 'new_role', p_role),
        p_cause || jsonb_build_object('mapping_id', v_id));
    SELECT array_agg(g.id) INTO v_groups FROM dsync.groups AS g
    WHERE g.organization_id = p_organization_id
      AND (g.id = p_group_id OR g.name = p_group_name);
    PERFORM dsync_internal.recompute_roles(
        dsync_internal.accounts_in_groups(coalesce(v_groups, ARRAY[p_group_id])),
        jsonb_build_object('*', p_cause || jsonb_build_object('mapping_id', v_id)));
    RETURN v_id;
END
$$;

CREATE OR REPLACE FUNCTION dsync_internal.delete_group_mapping(p_id bigint, p_cause jsonb) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    m dsync.group_role_mappings;
    v_groups text[];
BEGIN
    SELECT * INTO m FROM dsync.group_role_mappings WHERE id = p_id;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM dsync_internal.lock_organization(m.organization_id);
    SELECT array_agg(g.id) INTO v_groups FROM dsync.groups AS g
    WHERE g.organization_id = m.organization_id AND (g.id = m.group_id OR g.name = m.group_name);
    DELETE FROM dsync.group_role_mappings WHERE id = p_id;
    PERFORM dsync_internal.audit(m.organization_id, 'mapping.deleted', NULL, to_jsonb(m),
                                 p_cause || jsonb_build_object('mapping_id', p_id));
    PERFORM dsync_internal.recompute_roles(
        dsync_internal.accounts_in_groups(coalesce(v_groups, ARRAY[m.group_id])),
        jsonb_build_object('*', p_cause || jsonb_build_object('mapping_id', p_id)));
    RETURN true;
END
$$;

-- Replace an organization's ordered attribute rules: [{attribute, value, role}, ...].
CREATE OR REPLACE FUNCTION dsync_internal.replace_role_rules(
    p_organization_id text, p_rules jsonb, p_cause jsonb
) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    PERFORM dsync_internal.lock_organization(p_organization_id);
    FOR r IN SELECT x.role FROM jsonb_to_recordset(p_rules) AS x(role text) LOOP
        PERFORM dsync_internal.check_role(p_organization_id, 'organization', r.role);
    END LOOP;
    DELETE FROM dsync.role_rules WHERE organization_id = p_organization_id;
    INSERT INTO dsync.role_rules (organization_id, position, source_attribute, match_value, role)
    SELECT p_organization_id, x.n, x.rule ->> 'attribute', x.rule ->> 'value', x.rule ->> 'role'
    FROM jsonb_array_elements(p_rules) WITH ORDINALITY AS x(rule, n);
    PERFORM dsync_internal.audit(p_organization_id, 'rules.replaced', NULL,
                                 jsonb_build_object('rules', p_rules), p_cause);
    RETURN dsync_internal.recompute_roles(
        dsync_internal.accounts_of_organization(p_organization_id),
        jsonb_build_object('*', p_cause));
END
$$;

CREATE OR REPLACE FUNCTION dsync_internal.assign_role(
    p_account_id text, p_scope_type text, p_scope_id text, p_role text, p_cause jsonb
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    a dsync.accounts;
    v_old text;
    v_scope_id text;
BEGIN
    SELECT * INTO a FROM dsync.accounts WHERE id = p_account_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no account %', p_account_id USING ERRCODE = 'no_data_found';
    END IF;
    PERFORM dsync_internal.lock_organization(a.organization_id);
    PERFORM dsync_internal.check_role(a.organization_id, p_scope_type, p_role);
    v_scope_id := CASE WHEN p_scope_type = 'organization' THEN a.organization_id
                       ELSE p_scope_id END;
    IF p_scope_type = 'organization' AND p_role = 'admin' AND (
        SELECT require_group_admin FROM dsync.organization_settings
        WHERE organization_id = a.organization_id) THEN
        RAISE EXCEPTION 'direct admin assignment is blocked: the organization requires '
                        'group-based assignment for admin roles'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT role INTO v_old FROM dsync.role_assignments
    WHERE account_id = p_account_id AND scope_type = p_scope_type AND scope_id = v_scope_id;
    INSERT INTO dsync.role_assignments (account_id, scope_type, scope_id, role, granted_by)
    VALUES (p_account_id, p_scope_type, v_scope_id, p_role,
            coalesce(p_cause ->> 'actor', 'admin'))
    ON CONFLICT (account_id, scope_type, scope_id)
    DO UPDATE SET role = excluded.role, granted_by = excluded.granted_by, created_at = now();
    PERFORM dsync_internal.audit(a.organization_id, 'role.assigned', p_account_id,
        jsonb_build_object('scope_type', p_scope_type, 'scope_id', v_scope_id,
                           'old_role', v_old, 'new_role', p_role), p_cause);
    PERFORM dsync_internal.recompute_roles(ARRAY[p_account_id], jsonb_build_object('*', p_cause));
END
$$;

CREATE OR REPLACE FUNCTION dsync_internal.unassign_role(
    p_account_id text, p_scope_type text, p_scope_id text, p_cause jsonb
) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    a dsync.accounts;
    v_old text;
BEGIN
    SELECT * INTO a FROM dsync.accounts WHERE id = p_account_id;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM dsync_internal.lock_organization(a.organization_id);
    DELETE FROM dsync.role_assignments
    WHERE account_id = p_account_id AND scope_type = p_scope_type
      AND scope_id = CASE WHEN p_scope_type = 'organization' THEN a.organization_id
                          ELSE p_scope_id END
    RETURNING role INTO v_old;
    IF v_old IS NULL THEN
        RETURN false;
    END IF;
    PERFORM dsync_internal.audit(a.organization_id, 'role.unassigned', p_account_id,
        jsonb_build_object('scope_type', p_scope_type, 'scope_id', p_scope_id,
                           'old_role', v_old), p_cause);
    PERFORM dsync_internal.recompute_roles(ARRAY[p_account_id], jsonb_build_object('*', p_cause));
    RETURN true;
END
$$;

-- Change organization settings with a JSON patch of organization_settings columns.
-- Enabling require_group_admin refuses unless a live directory group holds admin, then
-- converts every direct admin to member.
CREATE OR REPLACE FUNCTION dsync_internal.update_organization_settings(
    p_organization_id text, p_patch jsonb, p_cause jsonb
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    before dsync.organization_settings;
    after dsync.organization_settings;
    v_converted text[];
    v_users text[];
BEGIN
    PERFORM dsync_internal.lock_organization(p_organization_id);
    PERFORM dsync_internal.ensure_organization(p_organization_id);
    SELECT * INTO before FROM dsync.organization_settings
    WHERE organization_id = p_organization_id FOR UPDATE;
    after := jsonb_populate_record(before, p_patch - 'organization_id' - 'updated_at');
    after.updated_at := now();

    IF after.require_group_admin AND NOT before.require_group_admin THEN
        IF NOT EXISTS (
            SELECT 1 FROM dsync.group_role_mappings AS mp
            JOIN dsync.groups AS g
              ON g.organization_id = mp.organization_id AND g.deleted_at IS NULL
             AND (g.id = mp.group_id OR g.name = mp.group_name)
            WHERE mp.organization_id = p_organization_id AND mp.scope_type = 'organization'
              AND mp.role = 'admin') THEN
            RAISE EXCEPTION 'no directory group holds the admin role in organization %: map '
                            'one before requiring group-based admin assignment',
                            p_organization_id USING ERRCODE = 'check_violation';
        END IF;
        WITH converted AS (
            UPDATE dsync.role_assignments AS r SET role = 'member',
                granted_by = 'policy:require_group_admin', created_at = now()
            FROM dsync.accounts AS a
            WHERE a.id = r.account_id AND a.organization_id = p_organization_id
              AND r.scope_type = 'organization' AND r.role = 'admin'
            RETURNING r.account_id
        )
        SELECT array_agg(account_id ORDER BY account_id) INTO v_converted FROM converted;
        PERFORM dsync_internal.audit(p_organization_id, 'role.assignment_converted', c,
            jsonb_build_object('old_role', 'admin', 'new_role', 'member',
                               'policy', 'require_group_admin'), p_cause)
        FROM unnest(v_converted) AS c;
    END IF;

    UPDATE dsync.organization_settings SET
        role_ranks = after.role_ranks, default_role = after.default_role,
        default_team_id = after.default_team_id, elevated_roles = after.elevated_roles,
        require_group_admin = after.require_group_admin,
        require_role_approval = after.require_role_approval,
        deprovision_without_groups = after.deprovision_without_groups,
        updated_at = after.updated_at
    WHERE organization_id = p_organization_id;
    PERFORM dsync_internal.audit(p_organization_id, 'policy.changed', NULL,
        jsonb_build_object('before', to_jsonb(before) - 'updated_at',
                           'after', to_jsonb(after) - 'updated_at'), p_cause);

    IF after.deprovision_without_groups IS DISTINCT FROM before.deprovision_without_groups THEN
        SELECT array_agg(u.id) INTO v_users FROM dsync.users AS u
        WHERE u.organization_id = p_organization_id;
        PERFORM dsync_internal.sync_access(coalesce(v_users, '{}'), '{}', '{}',
                                           jsonb_build_object('users', '{}'::jsonb));
    END IF;
    PERFORM dsync_internal.recompute_roles(
        dsync_internal.accounts_of_organization(p_organization_id),
        jsonb_build_object('*', p_cause));
    RETURN to_jsonb(after);
END
$$;

CREATE OR REPLACE FUNCTION dsync_internal.decide_approval(
    p_account_id text, p_scope_type text, p_scope_id text, p_role text, p_approve boolean,
    p_cause jsonb
) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    a dsync.accounts;
BEGIN
    SELECT * INTO a FROM dsync.accounts WHERE id = p_account_id;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM dsync_internal.lock_organization(a.organization_id);
    UPDATE dsync.role_approvals
    SET status = CASE WHEN p_approve THEN 'approved' ELSE 'rejected' END,
        decided_at = now(), decided_by = coalesce(p_cause ->> 'actor', 'admin')
    WHERE account_id = p_account_id AND scope_type = p_scope_type
      AND scope_id = coalesce(p_scope_id, a.organization_id) AND role = p_role;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM dsync_internal.audit(a.organization_id,
        CASE WHEN p_approve THEN 'approval.approved' ELSE 'approval.rejected' END, p_account_id,
        jsonb_build_object('scope_type', p_scope_type,
                           'scope_id', coalesce(p_scope_id, a.organization_id), 'role', p_role),
        p_cause);
    PERFORM dsync_internal.recompute_roles(ARRAY[p_account_id], jsonb_build_object('*', p_cause));
    RETURN true;
END
$$;

-- An admin deactivates an account by hand (seed 000: "deletion revokes any logged-in sessions
-- and personal API keys"): the same revocation as deprovisioning, and sync never
-- reactivates it. Owners are refused: demote first. Returns false for an unknown account.
CREATE OR REPLACE FUNCTION dsync_internal.deactivate_account(p_account_id text, p_cause jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    a dsync.accounts;
    v_revoked jsonb;
BEGIN
    SELECT * INTO a FROM dsync.accounts WHERE id = p_account_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no account %', p_account_id USING ERRCODE = 'no_data_found';
    END IF;
    PERFORM dsync_internal.lock_organization(a.organization_id);
    IF dsync_internal.is_owner(p_account_id) THEN
        RAISE EXCEPTION 'account % is an owner: remove the owner role first', p_account_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE dsync.accounts
    SET status = 'deactivated', deactivated_at = coalesce(deactivated_at, now()),
        deactivated_by = 'admin'
    WHERE id = p_account_id;
    v_revoked := dsync_internal.revoke_credentials(ARRAY[p_account_id], 'deactivated',
                                                   jsonb_build_object('*', p_cause));
    IF a.status = 'active' THEN
        PERFORM dsync_internal.audit(a.organization_id, 'account.deactivated', p_account_id,
                                     jsonb_build_object('by', 'admin'), p_cause);
        PERFORM dsync_internal.emit_change('account.deprovisioned', a.organization_id,
                                           p_account_id, '{}'::jsonb, p_cause);
    END IF;
    PERFORM dsync_internal.recompute_roles(ARRAY[p_account_id], jsonb_build_object('*', p_cause));
    RETURN jsonb_build_object('account_id', p_account_id, 'revoked', v_revoked);
END
$$;
