-- Accounts follow the directory: the worker's access step and just-in-time provisioning.

-- The directory users a batch touched, as rows. A function over the jsonb rather than a
-- temporary table: a table created per transaction would invalidate every cached plan of
-- sync_access on each batch (replanning cost more than the work on small batches).
CREATE OR REPLACE FUNCTION dsync_internal.targets(p_targets jsonb)
RETURNS TABLE (user_id text, organization_id text, email text, active boolean, cause jsonb)
LANGUAGE sql IMMUTABLE AS $$
    SELECT * FROM jsonb_to_recordset(p_targets)
        AS t(user_id text, organization_id text, email text, active boolean, cause jsonb)
$$;

-- The deleted directories of a batch are (provider, id) pairs, given as two arrays.
CREATE OR REPLACE FUNCTION dsync_internal.check_directory_keys(p_directories text[], p_providers text[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF coalesce(cardinality(p_directories), 0) <> coalesce(cardinality(p_providers), 0)
       OR array_position(p_providers, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'every directory id needs its provider (% ids, % providers)',
            coalesce(cardinality(p_directories), 0), coalesce(cardinality(p_providers), 0)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;

-- Phases of sync_access, in the order it runs them. Each runs under sync_access's settings
-- (SET clauses hold for everything a function calls), so none has its own. p_targets is the
-- jsonb array access_targets returns, read as rows through dsync_internal.targets.

-- The directory users the batch touched (p_users, the members of p_groups, the users of the
-- (provider, id) directories), each with its organization, email, whether it should have an
-- active account and the cause to record; NULL when none can have an account.
CREATE OR REPLACE FUNCTION dsync_internal.access_targets(
    p_users text[], p_groups text[], p_directories text[], p_causes jsonb,
    p_directory_providers text[]
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_targets jsonb;
BEGIN
    WITH touched AS (
        SELECT unnest(p_users) AS id
        UNION SELECT m.user_id FROM dsync_internal.memberships AS m
              WHERE m.group_id = ANY (p_groups)
        UNION SELECT u.id
              FROM unnest(p_directory_providers, p_directories) AS d(provider, id)
              JOIN dsync.users AS u ON u.directory_id = d.id AND u.provider = d.provider
    )
    SELECT jsonb_agg(jsonb_build_object(
               'user_id', u.id, 'organization_id', u.organization_id, 'email', u.email,
               'active',
               u.deleted_at IS NULL AND u.state = 'active'
               AND NOT EXISTS (SELECT 1 FROM dsync.directories AS d
                               WHERE d.id = u.directory_id AND d.provider = u.provider
                                 AND d.deleted_at IS NOT NULL)
               AND (NOT coalesce(o.deprovision_without_groups, false) OR EXISTS (
                   SELECT 1 FROM dsync_internal.memberships AS m
                   JOIN dsync.groups AS g ON g.id = m.group_id AND g.deleted_at IS NULL
                   WHERE m.user_id = u.id AND m.present)),
               'cause', coalesce(
                   p_causes -> 'users' -> u.id,
                   (SELECT p_causes -> 'groups' -> m.group_id
                    FROM dsync_internal.memberships AS m
                    WHERE m.user_id = u.id AND p_causes -> 'groups' ? m.group_id
                    ORDER BY m.group_id LIMIT 1),
                   p_causes -> 'directories' -> u.provider -> u.directory_id,
                   p_causes -> 'default',
                   '{}'::jsonb))
           ORDER BY u.id)
    INTO v_targets
    FROM touched
    JOIN dsync.users AS u ON u.id = touched.id
    LEFT JOIN dsync.organization_settings AS o ON o.organization_id = u.organization_id
    WHERE u.organization_id IS NOT NULL AND coalesce(u.email, '') <> ''
      AND NOT EXISTS (SELECT 1 FROM dsync_internal.disabled_directories AS x
                      WHERE x.directory_id = u.directory_id AND x.provider = u.provider);
    RETURN v_targets;
END
$$;

-- Lock the targets' organizations (sorted, before anything else) and give each its settings.
CREATE OR REPLACE FUNCTION dsync_internal.lock_target_organizations(p_targets jsonb)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dsync_internal.lock_organization(o.organization_id)
    FROM (SELECT DISTINCT organization_id FROM dsync_internal.targets(p_targets) ORDER BY 1) AS o;
    INSERT INTO dsync.organization_settings (organization_id)
    SELECT DISTINCT organization_id FROM dsync_internal.targets(p_targets)
    ON CONFLICT DO NOTHING;
END
$$;

-- Link accounts the application created (JIT or by hand) to their directory user. Returns
-- how many.
CREATE OR REPLACE FUNCTION dsync_internal.link_accounts(p_targets jsonb)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_linked integer;
BEGIN
    WITH linked AS (
        UPDATE dsync.accounts AS a SET directory_user_id = t.user_id
        FROM dsync_internal.targets(p_targets) AS t
        WHERE a.directory_user_id IS NULL AND a.organization_id = t.organization_id
          AND lower(a.email) = lower(t.email)
          AND NOT EXISTS (SELECT 1 FROM dsync.accounts AS b WHERE b.directory_user_id = t.user_id)
        RETURNING a.id, a.organization_id, t.user_id, t.cause
    )
    SELECT count(*) INTO v_linked FROM (
        SELECT dsync_internal.audit(organization_id, 'account.linked', id,
                                    jsonb_build_object('directory_user_id', user_id), cause)
        FROM linked
    ) AS done;
    RETURN v_linked;
END
$$;

-- Create accounts for active users who have none (never a second one for an address), with
-- their audit rows and change messages. Returns how many.
CREATE OR REPLACE FUNCTION dsync_internal.create_accounts(p_targets jsonb)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_new jsonb;
BEGIN
    WITH created AS (
        INSERT INTO dsync.accounts (organization_id, email, created_via, directory_user_id)
        SELECT t.organization_id, t.email, 'directory', t.user_id
        FROM dsync_internal.targets(p_targets) AS t
        WHERE t.active
          AND NOT EXISTS (SELECT 1 FROM dsync.accounts AS b WHERE b.directory_user_id = t.user_id)
        ORDER BY t.user_id
        ON CONFLICT DO NOTHING
        RETURNING id, organization_id, directory_user_id
    )
    SELECT jsonb_agg(jsonb_build_object('id', c.id, 'organization_id', c.organization_id,
                                        'user_id', c.directory_user_id, 'cause', t.cause)
                     ORDER BY c.directory_user_id)
    INTO v_new
    FROM created AS c
    JOIN dsync_internal.targets(p_targets) AS t ON t.user_id = c.directory_user_id;
    IF v_new IS NOT NULL THEN
        -- Set-based (one statement each), not a function call per account.
        INSERT INTO dsync.audit_log (organization_id, action, account_id, details, cause)
        SELECT c.organization_id, 'account.created', c.id,
               jsonb_build_object('created_via', 'directory', 'directory_user_id', c.user_id),
               coalesce(c.cause, '{}'::jsonb)
        FROM jsonb_to_recordset(v_new)  -- in array order
             AS c(id text, organization_id text, user_id text, cause jsonb);
        INSERT INTO dsync_internal.outbox (stream, key, headers, value)
        SELECT 'changes', c.id, dsync_internal.change_headers('account.created'),
               dsync_internal.change_value('account.created', c.organization_id, c.id,
                                           jsonb_build_object('created_via', 'directory'),
                                           c.cause)
        FROM jsonb_to_recordset(v_new)  -- in array order
             AS c(id text, organization_id text, cause jsonb);
    END IF;
    RETURN coalesce(jsonb_array_length(v_new), 0);
END
$$;

-- The address follows the directory unless another account of the organization has it.
CREATE OR REPLACE FUNCTION dsync_internal.follow_emails(p_targets jsonb)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE dsync.accounts AS a SET email = t.email
    FROM dsync_internal.targets(p_targets) AS t
    WHERE a.directory_user_id = t.user_id AND a.email <> t.email
      AND NOT EXISTS (SELECT 1 FROM dsync.accounts AS b
                      WHERE b.organization_id = a.organization_id
                        AND lower(b.email) = lower(t.email) AND b.id <> a.id);
END
$$;

-- Deactivate the active accounts of targets that are no longer active (never an owner).
-- Returns them as [{id, organization_id, cause}] in id order, NULL when none.
CREATE OR REPLACE FUNCTION dsync_internal.deactivate_accounts(p_targets jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_gone jsonb;
BEGIN
    WITH gone AS (
        UPDATE dsync.accounts AS a
        SET status = 'deactivated', deactivated_at = now(), deactivated_by = 'directory'
        FROM dsync_internal.targets(p_targets) AS t
        WHERE a.directory_user_id = t.user_id AND NOT t.active AND a.status = 'active'
          AND NOT dsync_internal.is_owner(a.id)
        RETURNING a.id, a.organization_id, t.cause
    )
    SELECT jsonb_agg(to_jsonb(gone) ORDER BY gone.id) INTO v_gone FROM gone;
    RETURN v_gone;
END
$$;

-- A person deleted from the directory and created again is a new directory user with the
-- deleted one's address (SCIM ids are never reused; a WorkOS re-invite is a new user too):
-- the account stays linked to the deleted user, and create_accounts cannot add a second
-- one for the address. Move it to the active user, so reactivate_accounts brings it back
-- (if sync deactivated it). Runs after deactivate_accounts: a deletion in the same batch
-- has deprovisioned the account, revoking every credential, before it moves; revoked
-- credentials stay revoked. Returns how many moved.
CREATE OR REPLACE FUNCTION dsync_internal.relink_recreated(p_targets jsonb)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_moved integer;
BEGIN
    WITH candidates AS (
        SELECT DISTINCT ON (a.id) a.id, a.organization_id, a.directory_user_id AS previous,
               t.user_id, t.cause
        FROM dsync_internal.targets(p_targets) AS t
        JOIN dsync.accounts AS a
          ON a.organization_id = t.organization_id AND lower(a.email) = lower(t.email)
        JOIN dsync.users AS gone ON gone.id = a.directory_user_id AND gone.deleted_at IS NOT NULL
        WHERE t.active
          AND NOT EXISTS (SELECT 1 FROM dsync.accounts AS b WHERE b.directory_user_id = t.user_id)
        ORDER BY a.id, t.user_id
    ), moved AS (
        UPDATE dsync.accounts AS a SET directory_user_id = c.user_id
        FROM candidates AS c
        WHERE a.id = c.id
        RETURNING a.id, a.organization_id, c.user_id, c.previous, c.cause
    )
    SELECT count(*) INTO v_moved FROM (
        SELECT dsync_internal.audit(organization_id, 'account.linked', id,
                                    jsonb_build_object('directory_user_id', user_id,
                                                       'replaces', previous), cause)
        FROM moved
    ) AS done;
    RETURN v_moved;
END
$$;

-- Reactivate the accounts sync deactivated whose targets are active again. Returns them as
-- deactivate_accounts does.
CREATE OR REPLACE FUNCTION dsync_internal.reactivate_accounts(p_targets jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_back jsonb;
BEGIN
    WITH back AS (
        UPDATE dsync.accounts AS a
        SET status = 'active', deactivated_at = NULL, deactivated_by = NULL
        FROM dsync_internal.targets(p_targets) AS t
        WHERE a.directory_user_id = t.user_id AND t.active AND a.status = 'deactivated'
          AND a.deactivated_by = 'directory'
        RETURNING a.id, a.organization_id, t.cause
    )
    SELECT jsonb_agg(to_jsonb(back) ORDER BY back.id) INTO v_back FROM back;
    RETURN v_back;
END
$$;

-- Revoke every credential of the deactivated accounts, then audit and announce each.
-- Returns the revocation counts.
CREATE OR REPLACE FUNCTION dsync_internal.deprovision_accounts(
    p_gone jsonb, p_account_causes jsonb
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_revoked jsonb;
BEGIN
    v_revoked := dsync_internal.revoke_credentials(
        ARRAY(SELECT g ->> 'id' FROM jsonb_array_elements(p_gone) AS g),
        'deprovisioned', p_account_causes);
    PERFORM dsync_internal.audit(g.organization_id, 'account.deactivated', g.id,
                                 jsonb_build_object('by', 'directory'), g.cause),
            dsync_internal.emit_change('account.deprovisioned', g.organization_id, g.id,
                                       '{}'::jsonb, g.cause)
    FROM jsonb_to_recordset(p_gone) AS g(id text, organization_id text, cause jsonb);
    RETURN v_revoked;
END
$$;

-- Audit and announce each reactivated account.
CREATE OR REPLACE FUNCTION dsync_internal.announce_reactivated(p_back jsonb)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dsync_internal.audit(b.organization_id, 'account.reactivated', b.id,
                                 jsonb_build_object('by', 'directory'), b.cause),
            dsync_internal.emit_change('account.reactivated', b.organization_id, b.id,
                                       '{}'::jsonb, b.cause)
    FROM jsonb_to_recordset(p_back) AS b(id text, organization_id text, cause jsonb);
END
$$;

-- How many of these deactivated accounts each provider's directory users account for.
CREATE OR REPLACE FUNCTION dsync_internal.deactivated_by_provider(p_gone jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN coalesce((
        SELECT jsonb_object_agg(x.provider, x.n) FROM (
            SELECT u.provider, count(*) AS n
            FROM jsonb_to_recordset(coalesce(p_gone, '[]')) AS g(id text)
            JOIN dsync.accounts AS a ON a.id = g.id
            JOIN dsync.users AS u ON u.id = a.directory_user_id
            GROUP BY u.provider) AS x), '{}'::jsonb);
END
$$;

-- Bring accounts in line with the directory users a batch touched: link existing accounts
-- by organization and case-insensitive email, create missing ones for active users,
-- deactivate (revoking every credential), move the accounts of deleted users to a person's
-- new directory user, reactivate, then recompute their roles.
-- p_users / p_groups / p_directories: ids whose rows changed (a group or a directory stands
-- for its members); p_directory_providers: the provider of each of p_directories.
-- p_causes: {"users": {id: cause}, "groups": {...}, "directories": {provider: {id: cause}},
-- "default": cause}.
-- Owners are never deactivated by sync. Returns counts.
CREATE OR REPLACE FUNCTION dsync_internal.sync_access(
    p_users text[], p_groups text[], p_directories text[], p_causes jsonb,
    p_directory_providers text[] DEFAULT '{}'
) RETURNS jsonb
LANGUAGE plpgsql  -- planned like recompute_roles (05_access_roles.sql)
SET plan_cache_mode = force_custom_plan SET join_collapse_limit = 1
SET from_collapse_limit = 1 SET random_page_cost = 1.1 AS $$
DECLARE
    v_targets jsonb;
    v_linked integer;
    v_created integer;
    v_gone jsonb;
    v_back jsonb;
    v_revoked jsonb := '{}'::jsonb;
    v_accounts text[];
    v_account_causes jsonb;
    v_roles integer;
BEGIN
    PERFORM dsync_internal.check_directory_keys(p_directories, p_directory_providers);
    v_targets := dsync_internal.access_targets(p_users, p_groups, p_directories, p_causes,
                                               p_directory_providers);
    IF v_targets IS NULL THEN
        RETURN jsonb_build_object('accounts', 0);
    END IF;
    PERFORM dsync_internal.lock_target_organizations(v_targets);
    v_linked := dsync_internal.link_accounts(v_targets);
    v_created := dsync_internal.create_accounts(v_targets);
    PERFORM dsync_internal.follow_emails(v_targets);
    v_gone := dsync_internal.deactivate_accounts(v_targets);
    v_linked := v_linked + dsync_internal.relink_recreated(v_targets);
    v_back := dsync_internal.reactivate_accounts(v_targets);

    SELECT array_agg(a.id ORDER BY a.id), jsonb_object_agg(a.id, t.cause)
    INTO v_accounts, v_account_causes
    FROM dsync.accounts AS a
    JOIN dsync_internal.targets(v_targets) AS t ON t.user_id = a.directory_user_id;

    IF v_gone IS NOT NULL THEN
        v_revoked := dsync_internal.deprovision_accounts(v_gone, v_account_causes);
    END IF;
    IF v_back IS NOT NULL THEN
        PERFORM dsync_internal.announce_reactivated(v_back);
    END IF;
    v_roles := dsync_internal.recompute_roles(v_accounts, v_account_causes);

    RETURN jsonb_build_object(
        'accounts', coalesce(cardinality(v_accounts), 0),
        'linked', v_linked,
        'created', v_created,
        'deactivated', coalesce(jsonb_array_length(v_gone), 0),
        'deactivated_by_provider', dsync_internal.deactivated_by_provider(v_gone),
        'reactivated', coalesce(jsonb_array_length(v_back), 0),
        'revoked', v_revoked,
        'roles_changed', v_roles);
END
$$;

-- The worker's access step for one batch. A user whose only change is a membership reaches
-- sync_access only where memberships decide access: their organization maps groups to roles,
-- has a role rule on group names, or deactivates users left without groups (elsewhere the
-- step recomputed the same accounts for nothing: 3.8 s of B4's 32 s of database time).
-- It locks the batch's organizations first, in order, and decides after: an administrator
-- adding the first group mapping of an organization holds the same lock, so either the
-- mapping is committed and seen here, or the mapping's own recompute runs after this batch
-- commits. The lock set covers every organization sync_access can lock for this batch, so
-- sync_access takes no organization lock out of order.
CREATE OR REPLACE FUNCTION dsync_internal.sync_batch_access(
    p_users text[], p_members text[], p_groups text[], p_directories text[], p_causes jsonb,
    p_directory_providers text[] DEFAULT '{}'
) RETURNS jsonb
LANGUAGE plpgsql  -- planned like sync_access
SET plan_cache_mode = force_custom_plan SET join_collapse_limit = 1
SET from_collapse_limit = 1 SET random_page_cost = 1.1 AS $$
DECLARE
    v_ids text[];  -- every user whose organization sync_access may lock for this batch
    v_organizations text[];  -- where memberships decide access
    v_counted text[];
BEGIN
    PERFORM dsync_internal.check_directory_keys(p_directories, p_directory_providers);
    v_ids := p_users || p_members;
    IF cardinality(p_groups) + cardinality(p_directories) > 0 THEN
        v_ids := v_ids || ARRAY(SELECT m.user_id FROM dsync_internal.memberships AS m
                                WHERE m.group_id = ANY (p_groups)
                                UNION SELECT x.id
                                      FROM unnest(p_directory_providers, p_directories)
                                           AS d(provider, id)
                                      JOIN dsync.users AS x
                                        ON x.directory_id = d.id AND x.provider = d.provider);
    END IF;
    PERFORM dsync_internal.lock_organization(o.organization_id)
    FROM (SELECT DISTINCT u.organization_id FROM dsync.users AS u
          WHERE u.id = ANY (v_ids) AND u.organization_id IS NOT NULL
          ORDER BY 1) AS o;

    IF cardinality(p_members) > 0 THEN
        v_organizations := ARRAY(
            SELECT mp.organization_id FROM dsync.group_role_mappings AS mp
            UNION SELECT rl.organization_id FROM dsync.role_rules AS rl
                  WHERE rl.source_attribute = 'groups'
            UNION SELECT o.organization_id FROM dsync.organization_settings AS o
                  WHERE o.deprovision_without_groups);
    END IF;
    IF cardinality(v_organizations) > 0 THEN
        -- The user's organization decides deactivation, the account's its roles.
        v_counted := ARRAY(
            SELECT u.id
            FROM unnest(p_members) AS ids(id)
            JOIN dsync.users AS u ON u.id = ids.id
            WHERE u.organization_id = ANY (v_organizations)
               OR EXISTS (SELECT 1 FROM dsync.accounts AS a
                          WHERE a.directory_user_id = u.id
                            AND a.organization_id = ANY (v_organizations)));
    END IF;

    IF cardinality(p_users) + coalesce(cardinality(v_counted), 0) + cardinality(p_groups)
       + cardinality(p_directories) = 0 THEN
        RETURN jsonb_build_object('accounts', 0);
    END IF;
    RETURN dsync_internal.sync_access(p_users || coalesce(v_counted, '{}'), p_groups,
                                      p_directories, p_causes, p_directory_providers);
END
$$;

-- Just-in-time provisioning: the application calls this from its first-SSO-login
-- transaction. Returns the account (existing or new). A new account gets the organization's
-- default role and default team, is linked to the person's directory user (backfilling
-- its group memberships and their roles), and is deactivated if the directory says so.
CREATE OR REPLACE FUNCTION dsync.jit_provision(p_organization_id text, p_email text)
RETURNS TABLE (account_id text, status text, created boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_account dsync.accounts;
    v_user text;
    v_team text;
    v_cause jsonb := jsonb_build_object('sso', 'jit');
BEGIN
    IF coalesce(p_organization_id, '') = '' OR coalesce(p_email, '') = '' THEN
        RAISE EXCEPTION 'organization and email are required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM dsync_internal.lock_organization(p_organization_id);
    PERFORM dsync_internal.ensure_organization(p_organization_id);
    SELECT * INTO v_account FROM dsync.accounts AS a
    WHERE a.organization_id = p_organization_id AND lower(a.email) = lower(p_email);
    IF FOUND THEN
        RETURN QUERY SELECT v_account.id, v_account.status, false;
        RETURN;
    END IF;

    SELECT u.id INTO v_user FROM dsync.users AS u
    WHERE u.organization_id = p_organization_id AND lower(u.email) = lower(p_email)
      AND u.deleted_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM dsync.accounts AS b WHERE b.directory_user_id = u.id)
    ORDER BY (u.state = 'active') DESC, u.updated_at DESC, u.id
    LIMIT 1;
    INSERT INTO dsync.accounts (organization_id, email, created_via, directory_user_id)
    VALUES (p_organization_id, p_email, 'jit', v_user)
    RETURNING * INTO v_account;
    PERFORM dsync_internal.audit(p_organization_id, 'account.created', v_account.id,
        jsonb_build_object('created_via', 'jit', 'directory_user_id', v_user), v_cause);
    PERFORM dsync_internal.emit_change('account.created', p_organization_id, v_account.id,
        jsonb_build_object('created_via', 'jit'), v_cause);

    SELECT o.default_team_id INTO v_team FROM dsync.organization_settings AS o
    WHERE o.organization_id = p_organization_id;
    IF v_team IS NOT NULL THEN
        INSERT INTO dsync.role_assignments (account_id, scope_type, scope_id, role, granted_by)
        VALUES (v_account.id, 'team', v_team, 'team_member', 'jit');
        PERFORM dsync_internal.audit(p_organization_id, 'role.assigned', v_account.id,
            jsonb_build_object('scope_type', 'team', 'scope_id', v_team,
                               'new_role', 'team_member'), v_cause);
    END IF;

    IF v_user IS NOT NULL THEN
        PERFORM dsync_internal.sync_access(ARRAY[v_user], '{}', '{}',
            jsonb_build_object('users', jsonb_build_object(v_user, v_cause)));
    ELSE
        PERFORM dsync_internal.recompute_roles(ARRAY[v_account.id],
                                               jsonb_build_object('*', v_cause));
    END IF;
    SELECT * INTO v_account FROM dsync.accounts AS a WHERE a.id = v_account.id;
    RETURN QUERY SELECT v_account.id, v_account.status, true;
END
$$;
