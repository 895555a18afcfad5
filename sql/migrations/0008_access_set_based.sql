-- The access step's hot paths write audit rows and change messages set-based: one
-- INSERT ... SELECT per kind and batch instead of a function call per row (each call of
-- dsync_internal.audit or emit_change was its own executor start, about a third of the
-- access step's time in B2). Rows, their order, the audit chain and the message format are
-- unchanged; the chain is still computed by the audit_log trigger.

-- The change message, in one place for emit_change and the set-based inserts.
CREATE FUNCTION dsync_internal.change_headers(p_type text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('dsync-change-type', p_type)
$$;

CREATE FUNCTION dsync_internal.change_value(
    p_type text, p_organization_id text, p_account_id text, p_data jsonb, p_cause jsonb
) RETURNS bytea
LANGUAGE sql VOLATILE AS $$  -- clock_timestamp()
    SELECT convert_to(jsonb_build_object(
        'type', p_type,
        'organization_id', p_organization_id,
        'account_id', p_account_id,
        'occurred_at', to_char(clock_timestamp() AT TIME ZONE 'UTC',
                               'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'data', p_data,
        'cause', coalesce(p_cause, '{}'::jsonb))::text, 'UTF8')
$$;

CREATE OR REPLACE FUNCTION dsync_internal.emit_change(
    p_type text, p_organization_id text, p_account_id text, p_data jsonb, p_cause jsonb
) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO dsync_internal.outbox (stream, key, headers, value)
    VALUES ('changes', coalesce(p_account_id, p_organization_id),
            dsync_internal.change_headers(p_type),
            dsync_internal.change_value(p_type, p_organization_id, p_account_id, p_data,
                                        p_cause))
$$;

CREATE OR REPLACE FUNCTION dsync_internal.recompute_roles(p_accounts text[], p_causes jsonb)
RETURNS integer
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan SET join_collapse_limit = 1
SET from_collapse_limit = 1 AS $$
DECLARE
    v_diff jsonb;
    v_changed integer;
BEGIN
    IF coalesce(cardinality(p_accounts), 0) = 0 THEN
        RETURN 0;
    END IF;

    -- Approvals: ask for hinted elevated roles not yet decided; forget undecided or decided
    -- approvals whose hint is gone. Skipped unless approvals can be involved.
    IF EXISTS (SELECT 1 FROM dsync.accounts AS a
               JOIN dsync.organization_settings AS o ON o.organization_id = a.organization_id
               WHERE a.id = ANY (p_accounts) AND o.require_role_approval)
       OR EXISTS (SELECT 1 FROM dsync.role_approvals AS ap WHERE ap.account_id = ANY (p_accounts))
    THEN
        WITH hints AS (
            SELECT DISTINCT s.account_id, s.scope_type, s.scope_id, s.role
            FROM dsync_internal.role_sources(p_accounts) AS s
            JOIN dsync.organization_settings AS o ON o.organization_id = s.organization_id
            WHERE s.from_idp AND o.require_role_approval AND s.role = ANY (o.elevated_roles)
        ),
        forgotten AS (
            DELETE FROM dsync.role_approvals AS ap
            WHERE ap.account_id = ANY (p_accounts)
              AND NOT EXISTS (SELECT 1 FROM hints AS h
                              WHERE h.account_id = ap.account_id
                                AND h.scope_type = ap.scope_type
                                AND h.scope_id = ap.scope_id AND h.role = ap.role)
            RETURNING ap.account_id
        ),
        requested AS (
            INSERT INTO dsync.role_approvals (account_id, scope_type, scope_id, role, status)
            SELECT account_id, scope_type, scope_id, role, 'pending' FROM hints
            ON CONFLICT DO NOTHING
            RETURNING account_id, scope_type, scope_id, role
        )
        SELECT jsonb_agg(to_jsonb(r)) INTO v_diff FROM requested AS r;
        PERFORM dsync_internal.audit(a.organization_id, 'approval.requested', a.id,
                                     jsonb_build_object('scope_type', r.scope_type,
                                                        'scope_id', r.scope_id, 'role', r.role),
                                     coalesce(p_causes -> a.id, p_causes -> '*'))
        FROM jsonb_to_recordset(coalesce(v_diff, '[]')) AS r(account_id text, scope_type text,
                                                              scope_id text, role text)
        JOIN dsync.accounts AS a ON a.id = r.account_id;
    END IF;

    -- One pass of window functions over every candidate, no joins between CTEs: the
    -- organization default ranks below everything, so it wins only where nothing else gives
    -- an organization role.
    WITH candidates AS (
        SELECT s.account_id, s.organization_id, s.scope_type, s.scope_id, s.role, s.source,
               coalesce(dsync_internal.role_rank(o.role_ranks, s.scope_type, s.role), 1000)
                   AS rank
        FROM dsync_internal.role_sources(p_accounts) AS s
        JOIN dsync.organization_settings AS o ON o.organization_id = s.organization_id
        WHERE NOT (s.from_idp AND o.require_role_approval AND s.role = ANY (o.elevated_roles))
           OR EXISTS (SELECT 1 FROM dsync.role_approvals AS ap
                      WHERE ap.account_id = s.account_id AND ap.scope_type = s.scope_type
                        AND ap.scope_id = s.scope_id AND ap.role = s.role
                        AND ap.status = 'approved')
        UNION ALL
        SELECT a.id, a.organization_id, 'organization', a.organization_id, o.default_role,
               jsonb_build_object('type', 'default'), 2000
        FROM unnest(p_accounts) AS ids(id)
        JOIN dsync.accounts AS a ON a.id = ids.id AND a.status = 'active'
        JOIN dsync.organization_settings AS o ON o.organization_id = a.organization_id
    ),
    ranked AS (
        SELECT c.*, min(c.rank) OVER (PARTITION BY c.account_id, c.scope_type, c.scope_id)
                        AS best
        FROM candidates AS c
    ),
    desired AS (
        SELECT r.account_id, min(r.organization_id) AS organization_id, r.scope_type,
               r.scope_id, min(r.role) AS role, jsonb_agg(DISTINCT r.source) AS sources
        FROM ranked AS r
        WHERE r.rank = r.best
        GROUP BY r.account_id, r.scope_type, r.scope_id
    ),
    existing AS (
        SELECT e.account_id, e.organization_id, e.scope_type, e.scope_id, e.role, e.sources
        FROM unnest(p_accounts) AS ids(id)
        JOIN dsync.effective_roles AS e ON e.account_id = ids.id
    )
    SELECT jsonb_agg(jsonb_build_object(
               'account_id', coalesce(d.account_id, e.account_id),
               'organization_id', coalesce(d.organization_id, e.organization_id),
               'scope_type', coalesce(d.scope_type, e.scope_type),
               'scope_id', coalesce(d.scope_id, e.scope_id),
               'old_role', e.role, 'new_role', d.role,
               'old_sources', e.sources, 'new_sources', d.sources)
           ORDER BY coalesce(d.account_id, e.account_id), coalesce(d.scope_type, e.scope_type),
                    coalesce(d.scope_id, e.scope_id))
    INTO v_diff
    FROM desired AS d
    FULL JOIN existing AS e
      ON e.account_id = d.account_id AND e.scope_type = d.scope_type AND e.scope_id = d.scope_id
    WHERE d.role IS DISTINCT FROM e.role OR d.sources IS DISTINCT FROM e.sources;


    IF v_diff IS NULL THEN
        RETURN 0;
    END IF;

    DELETE FROM dsync.effective_roles AS e
    USING jsonb_to_recordset(v_diff) AS x(account_id text, scope_type text, scope_id text,
                                          new_role text)
    WHERE x.new_role IS NULL AND e.account_id = x.account_id
      AND e.scope_type = x.scope_type AND e.scope_id = x.scope_id;

    INSERT INTO dsync.effective_roles AS e
        (account_id, organization_id, scope_type, scope_id, role, sources)
    SELECT x.account_id, x.organization_id, x.scope_type, x.scope_id, x.new_role, x.new_sources
    FROM jsonb_to_recordset(v_diff) AS x(account_id text, organization_id text, scope_type text,
                                          scope_id text, new_role text, new_sources jsonb)
    WHERE x.new_role IS NOT NULL
    ON CONFLICT (account_id, scope_type, scope_id)
    DO UPDATE SET role = excluded.role, sources = excluded.sources, updated_at = now();

    INSERT INTO dsync.audit_log (organization_id, action, account_id, details, cause)
    SELECT x.organization_id,
           CASE WHEN x.old_role IS NULL THEN 'role.granted'
                WHEN x.new_role IS NULL THEN 'role.revoked'
                WHEN x.old_role <> x.new_role THEN 'role.changed'
                ELSE 'role.sources_changed' END,
           x.account_id,
           jsonb_build_object('scope_type', x.scope_type, 'scope_id', x.scope_id,
                              'old_role', x.old_role, 'new_role', x.new_role,
                              'old_sources', x.old_sources, 'new_sources', x.new_sources),
           coalesce(p_causes -> x.account_id, p_causes -> '*', '{}'::jsonb)
    FROM jsonb_to_recordset(v_diff)  -- in array order
         AS x(account_id text, organization_id text, scope_type text, scope_id text,
              old_role text, new_role text, old_sources jsonb, new_sources jsonb);

    -- One message per account with its whole current role set (a cache replaces its copy).
    INSERT INTO dsync_internal.outbox (stream, key, headers, value)
    SELECT 'changes', c.account_id, dsync_internal.change_headers('role.changed'),
           dsync_internal.change_value(
        'role.changed', c.organization_id, c.account_id,
        jsonb_build_object('roles', coalesce((
            SELECT jsonb_agg(jsonb_build_object('scope_type', e.scope_type,
                                                'scope_id', e.scope_id, 'role', e.role,
                                                'sources', e.sources)
                             ORDER BY e.scope_type, e.scope_id)
            FROM dsync.effective_roles AS e WHERE e.account_id = c.account_id), '[]'::jsonb)),
        coalesce(p_causes -> c.account_id, p_causes -> '*'))
    FROM (SELECT DISTINCT x.account_id, x.organization_id
          FROM jsonb_to_recordset(v_diff) AS x(account_id text, organization_id text)) AS c
    ORDER BY c.account_id;

    SELECT count(DISTINCT x.account_id) INTO v_changed
    FROM jsonb_to_recordset(v_diff) AS x(account_id text);
    RETURN v_changed;
END
$$;

CREATE OR REPLACE FUNCTION dsync_internal.sync_access(
    p_users text[], p_groups text[], p_directories text[], p_causes jsonb
) RETURNS jsonb
LANGUAGE plpgsql  -- planned like recompute_roles (see there)
SET plan_cache_mode = force_custom_plan SET join_collapse_limit = 1
SET from_collapse_limit = 1 AS $$
DECLARE
    v_targets jsonb;
    v_linked integer;
    v_created integer;
    v_new jsonb;
    v_gone jsonb;
    v_back jsonb;
    v_revoked jsonb := '{}'::jsonb;
    v_accounts text[];
    v_account_causes jsonb;
    v_roles integer;
BEGIN
    WITH touched AS (
        SELECT unnest(p_users) AS id
        UNION SELECT m.user_id FROM dsync_internal.memberships AS m
              WHERE m.group_id = ANY (p_groups)
        UNION SELECT u.id FROM dsync.users AS u WHERE u.directory_id = ANY (p_directories)
    )
    SELECT jsonb_agg(jsonb_build_object(
               'user_id', u.id, 'organization_id', u.organization_id, 'email', u.email,
               'active',
               u.deleted_at IS NULL AND u.state = 'active'
               AND NOT EXISTS (SELECT 1 FROM dsync.directories AS d
                               WHERE d.id = u.directory_id AND d.deleted_at IS NOT NULL)
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
                   p_causes -> 'directories' -> u.directory_id,
                   p_causes -> 'default',
                   '{}'::jsonb))
           ORDER BY u.id)
    INTO v_targets
    FROM touched
    JOIN dsync.users AS u ON u.id = touched.id
    LEFT JOIN dsync.organization_settings AS o ON o.organization_id = u.organization_id
    WHERE u.organization_id IS NOT NULL AND coalesce(u.email, '') <> ''
      AND NOT EXISTS (SELECT 1 FROM dsync_internal.disabled_directories AS x
                      WHERE x.directory_id = u.directory_id);

    IF v_targets IS NULL THEN
        RETURN jsonb_build_object('accounts', 0);
    END IF;

    PERFORM dsync_internal.lock_organization(o.organization_id)
    FROM (SELECT DISTINCT organization_id FROM dsync_internal.targets(v_targets) ORDER BY 1) AS o;
    INSERT INTO dsync.organization_settings (organization_id)
    SELECT DISTINCT organization_id FROM dsync_internal.targets(v_targets)
    ON CONFLICT DO NOTHING;

    -- Link accounts the application created (JIT or by hand) to their directory user.
    WITH linked AS (
        UPDATE dsync.accounts AS a SET directory_user_id = t.user_id
        FROM dsync_internal.targets(v_targets) AS t
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

    -- Create accounts for active users who have none (never a second one for an address).
    WITH created AS (
        INSERT INTO dsync.accounts (organization_id, email, created_via, directory_user_id)
        SELECT t.organization_id, t.email, 'directory', t.user_id
        FROM dsync_internal.targets(v_targets) AS t
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
    JOIN dsync_internal.targets(v_targets) AS t ON t.user_id = c.directory_user_id;
    v_created := coalesce(jsonb_array_length(v_new), 0);
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

    -- The address follows the directory unless another account of the organization has it.
    UPDATE dsync.accounts AS a SET email = t.email
    FROM dsync_internal.targets(v_targets) AS t
    WHERE a.directory_user_id = t.user_id AND a.email <> t.email
      AND NOT EXISTS (SELECT 1 FROM dsync.accounts AS b
                      WHERE b.organization_id = a.organization_id
                        AND lower(b.email) = lower(t.email) AND b.id <> a.id);

    WITH gone AS (
        UPDATE dsync.accounts AS a
        SET status = 'deactivated', deactivated_at = now(), deactivated_by = 'directory'
        FROM dsync_internal.targets(v_targets) AS t
        WHERE a.directory_user_id = t.user_id AND NOT t.active AND a.status = 'active'
          AND NOT dsync_internal.is_owner(a.id)
        RETURNING a.id, a.organization_id, t.cause
    )
    SELECT jsonb_agg(to_jsonb(gone) ORDER BY gone.id) INTO v_gone FROM gone;

    WITH back AS (
        UPDATE dsync.accounts AS a
        SET status = 'active', deactivated_at = NULL, deactivated_by = NULL
        FROM dsync_internal.targets(v_targets) AS t
        WHERE a.directory_user_id = t.user_id AND t.active AND a.status = 'deactivated'
          AND a.deactivated_by = 'directory'
        RETURNING a.id, a.organization_id, t.cause
    )
    SELECT jsonb_agg(to_jsonb(back) ORDER BY back.id) INTO v_back FROM back;

    SELECT array_agg(a.id ORDER BY a.id), jsonb_object_agg(a.id, t.cause)
    INTO v_accounts, v_account_causes
    FROM dsync.accounts AS a JOIN dsync_internal.targets(v_targets) AS t ON t.user_id = a.directory_user_id;

    IF v_gone IS NOT NULL THEN
        v_revoked := dsync_internal.revoke_credentials(
            ARRAY(SELECT g ->> 'id' FROM jsonb_array_elements(v_gone) AS g),
            'deprovisioned', v_account_causes);
        PERFORM dsync_internal.audit(g.organization_id, 'account.deactivated', g.id,
                                     jsonb_build_object('by', 'directory'), g.cause),
                dsync_internal.emit_change('account.deprovisioned', g.organization_id, g.id,
                                           '{}'::jsonb, g.cause)
        FROM jsonb_to_recordset(v_gone) AS g(id text, organization_id text, cause jsonb);
    END IF;
    IF v_back IS NOT NULL THEN
        PERFORM dsync_internal.audit(b.organization_id, 'account.reactivated', b.id,
                                     jsonb_build_object('by', 'directory'), b.cause),
                dsync_internal.emit_change('account.reactivated', b.organization_id, b.id,
                                           '{}'::jsonb, b.cause)
        FROM jsonb_to_recordset(v_back) AS b(id text, organization_id text, cause jsonb);
    END IF;

    v_roles := dsync_internal.recompute_roles(v_accounts, v_account_causes);

    RETURN jsonb_build_object(
        'accounts', coalesce(cardinality(v_accounts), 0),
        'linked', v_linked,
        'created', v_created,
        'deactivated', coalesce(jsonb_array_length(v_gone), 0),
        'deactivated_by_provider', coalesce((
            SELECT jsonb_object_agg(x.provider, x.n) FROM (
                SELECT u.provider, count(*) AS n
                FROM jsonb_to_recordset(coalesce(v_gone, '[]')) AS g(id text)
                JOIN dsync.accounts AS a ON a.id = g.id
                JOIN dsync.users AS u ON u.id = a.directory_user_id
                GROUP BY u.provider) AS x), '{}'::jsonb),
        'reactivated', coalesce(jsonb_array_length(v_back), 0),
        'revoked', v_revoked,
        'roles_changed', v_roles);
END
$$;
